/**
 * The whole pipeline with every part real: s3rver as R2, the local sshd as the pod, rclone
 * on the "pod" side, Debian's Blender, and MediaPipe (web backend) in headless Chromium.
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSilentLogger } from "../../src/log.js";
import { runRecordSchema } from "../../src/pipeline/run-record.js";
import { createLocalExecutor } from "../../src/remote/local.js";
import { blenderScriptCommand } from "../../src/render/launcher.js";
import { writeHdr, writePlate } from "../helpers/backgrounds.js";
import { DEFAULT_BLENDER, getSampleCharacters, POD_PYTHON } from "../helpers/blender.js";
import { cleanEnv, makeTempDir, runCli } from "../helpers/cli.js";
import { buildPoseModel } from "../helpers/pose-models.js";
import { type S3rverHandle, startS3rver } from "../helpers/s3rver.js";
import { type SshdServer, startSshd } from "../helpers/sshd.js";

let s3: S3rverHandle;
let sshd: SshdServer;
let temp: ReturnType<typeof makeTempDir>;
let project: string;
let env: NodeJS.ProcessEnv;

function files(dir: string, pattern: RegExp): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => pattern.test(f));
}

function readIfExists(file: string): string {
  return existsSync(file) ? readFileSync(file, "utf8") : "";
}

/** Poll a condition on the "pod" (a local folder here) for up to a minute. */
async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (condition()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("timed out waiting on the pod");
}

function runIdOf(stdout: string): string {
  return JSON.parse(stdout).runId as string;
}

beforeAll(async () => {
  [s3, sshd] = await Promise.all([startS3rver({ buckets: ["pf-e2e"] }), startSshd()]);
  temp = makeTempDir("pf-e2e-");
  project = join(temp.dir, "project");
  mkdirSync(join(project, "characters"), { recursive: true });
  const sample = await getSampleCharacters();
  copyFileSync(sample.fbx, join(project, "characters", "walker.fbx"));
  writeFileSync(
    join(project, "posefactory.yaml"),
    [
      "target: pod",
      "frames: {step: 40}",
      "cameras: {azimuthsDeg: [0, 90, 180, 270], elevationsDeg: [10]}",
      "render: {samples: 4, resolution: [192, 192]}",
      "detect: {backend: web, model: lite}",
      "targets:",
      "  pod:",
      "    executor: ssh",
      `    host: ${sshd.host}`,
      `    port: ${sshd.port}`,
      `    user: ${sshd.user}`,
      `    identityFile: ${sshd.identityFile}`,
      `    workdir: ${join(temp.dir, "pod")}`,
      "    costPerHour: 0.5",
      `    storage: {type: s3, endpoint: '${s3.endpoint}', bucket: pf-e2e, prefix: e2e/}`,
      "",
    ].join("\n"),
  );
  env = cleanEnv(
    { POSEFACTORY_S3_ACCESS_KEY_ID: "S3RVER", POSEFACTORY_S3_SECRET_ACCESS_KEY: "S3RVER" },
    temp.home,
  );
}, 300_000);

afterAll(async () => {
  await Promise.all([s3?.stop(), sshd?.stop()]);
  temp?.cleanup();
});

describe("posefactory pipeline on an ssh target", { timeout: 400_000 }, () => {
  let firstRun: string;

  it("runs upload, render on the pod, download, detection and report", async () => {
    const result = await runCli(["--json", "pipeline"], { cwd: project, env });
    expect(result.code, result.stderr).toBe(0);
    firstRun = runIdOf(result.stdout);
    const runDir = join(project, "data", "runs", firstRun);
    expect(files(join(runDir, "renders"), /f\d{4}\.png$/)).toHaveLength(4 * 2);
    expect(existsSync(join(runDir, "renders", "walker", "annotations.json"))).toBe(true);
    expect(files(join(runDir, "detections"), /f\d{4}\.json$/)).toHaveLength(4 * 2);
    expect(existsSync(join(runDir, "evaluation.json"))).toBe(true);
    expect(existsSync(join(runDir, "report.html"))).toBe(true);
    const record = runRecordSchema.parse(
      JSON.parse(readFileSync(join(runDir, "run.json"), "utf8")),
    );
    expect(record.status).toBe("ok");
    expect(record.steps.map((s) => [s.id, s.status])).toEqual([
      ["upload", "done"],
      ["render", "done"],
      ["download", "done"],
      ["reuse", "skipped"],
      ["detect", "done"],
      ["report", "done"],
    ]);
    expect(record.versions.blender).toMatch(/^\d/);
    expect(record.versions.mediapipe).toBeTruthy();
    expect(record.counts.imagesRendered).toBe(8);
    expect(record.characters[0]).toMatchObject({ name: "walker", status: "ok", images: 8 });
    expect(record.characters[0]!.pck10).toBeTypeOf("number");
    expect(record.cost?.costPerHour).toBe(0.5);
  });

  it("renders nothing and uploads nothing when nothing changed", async () => {
    await s3.resetRequests();
    const result = await runCli(["--json", "pipeline"], { cwd: project, env });
    expect(result.code, result.stderr).toBe(0);
    expect(await s3.count("PUT")).toBe(0);
    const runId = runIdOf(result.stdout);
    const record = runRecordSchema.parse(
      JSON.parse(readFileSync(join(project, "data", "runs", runId, "run.json"), "utf8")),
    );
    expect(record.counts.imagesRendered).toBe(0);
    expect(record.counts.imagesReused).toBe(8);
    expect(record.counts.uploaded).toBe(0);
    expect(record.characters[0]!.reusedFrom).toBe(firstRun);
    expect(existsSync(join(project, "data", "runs", runId, "report.html"))).toBe(true);
  });

  it("survives the SSH connection being cut during the render", async () => {
    const podRuns = join(temp.dir, "pod", "runs");
    const before = new Set(existsSync(podRuns) ? readdirSync(podRuns) : []);
    const pipeline = runCli(["--json", "pipeline", "--force"], { cwd: project, env });
    // Wait for the new job to be running on the "pod", then cut every SSH session.
    let cut = false;
    for (let i = 0; i < 1200 && !cut; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const fresh = (existsSync(podRuns) ? readdirSync(podRuns) : []).filter((d) => !before.has(d));
      const status = fresh[0] && join(podRuns, fresh[0], "status.json");
      if (status && existsSync(status) && readFileSync(status, "utf8").includes('"running"')) {
        const log = join(podRuns, fresh[0]!, "job.log");
        if (existsSync(log) && readFileSync(log, "utf8").includes("rendering")) {
          await sshd.dropSessions();
          cut = true;
        }
      }
    }
    expect(cut).toBe(true);
    const result = await pipeline;
    expect(result.code, result.stderr).toBe(0);
    const runId = runIdOf(result.stdout);
    expect(files(join(project, "data", "runs", runId, "renders"), /f\d{4}\.png$/)).toHaveLength(8);
    expect(existsSync(join(project, "data", "runs", runId, "report.html"))).toBe(true);
  });

  it("--dry-run prints the plan and changes nothing", async () => {
    await s3.resetRequests();
    const result = await runCli(["pipeline", "--dry-run", "--force"], { cwd: project, env });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("render walker (walker.fbx)");
    expect(result.stdout).toContain("job.json: ");
    expect(result.stdout).toContain("rclone copy");
    expect(result.stdout).toContain("PF_S3_SECRET_ACCESS_KEY");
    expect(await s3.count("PUT")).toBe(0);
  });

  it("--detach returns while the job runs; --resume finishes the run", async () => {
    const started = await runCli(["--json", "pipeline", "--force", "--detach"], {
      cwd: project,
      env,
    });
    expect(started.code, started.stderr).toBe(0);
    expect(JSON.parse(started.stdout).status).toBe("detached");
    const runId = runIdOf(started.stdout);
    const status = await runCli(["--json", "status", runId], { cwd: project, env });
    expect(status.code, status.stderr).toBe(0);
    const resumed = await runCli(["--json", "pipeline", "--resume", runId], { cwd: project, env });
    expect(resumed.code, resumed.stderr).toBe(0);
    const record = runRecordSchema.parse(JSON.parse(resumed.stdout).record);
    expect(record.status).toBe("ok");
    expect(record.steps.every((s) => s.status === "done" || s.status === "skipped")).toBe(true);
    expect(existsSync(join(project, "data", "runs", runId, "report.html"))).toBe(true);
  });

  it("--resume pushes again, without rendering again, when only the push failed", async () => {
    const started = await runCli(["--json", "pipeline", "--force", "--detach"], {
      cwd: project,
      env,
    });
    expect(started.code, started.stderr).toBe(0);
    const runId = runIdOf(started.stdout);
    const podRun = join(temp.dir, "pod", "runs", runId);
    const bucket = join(s3.directory, "pf-e2e");
    // Take the bucket away once the inputs are pulled, so that only the push fails (exit 22).
    await waitFor(() => readIfExists(join(podRun, "job.log")).includes("rendering"));
    renameSync(bucket, `${bucket}.away`);
    try {
      await waitFor(() => readIfExists(join(podRun, "status.json")).includes('"state":"failed"'));
      expect(JSON.parse(readFileSync(join(podRun, "status.json"), "utf8")).exitCode).toBe(22);
    } finally {
      renameSync(`${bucket}.away`, bucket);
    }
    const resumed = await runCli(["--json", "pipeline", "--resume", runId], { cwd: project, env });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain("pushing them again");
    // The second job only pushed: its log has no render in it; logs/ keeps the render's log.
    expect(readFileSync(join(podRun, "job.log"), "utf8")).not.toContain("rendering");
    expect(readFileSync(join(podRun, "logs", "job.log"), "utf8")).toContain("rendering");
    expect(files(join(project, "data", "runs", runId, "renders"), /f\d{4}\.png$/)).toHaveLength(8);
    expect(existsSync(join(project, "data", "runs", runId, "report.html"))).toBe(true);
  });

  it("doctor checks storage and the pod", async () => {
    const result = await runCli(["--json", "doctor"], { cwd: project, env });
    const checks = JSON.parse(result.stdout).checks as { name: string; ok: boolean }[];
    const byName = new Map(checks.map((c) => [c.name, c.ok]));
    expect(byName.get("credentials")).toBe(true);
    expect(byName.get("storage bucket exists")).toBe(true);
    expect(byName.get("reachable")).toBe(true);
  });

  it("the single commands on the pod: render, download, detect, report", async () => {
    const rendered = await runCli(["--json", "render", "--force"], { cwd: project, env });
    expect(rendered.code, rendered.stderr).toBe(0);
    const record = runRecordSchema.parse(JSON.parse(rendered.stdout).record);
    expect(record.characters[0]).toMatchObject({ name: "walker", status: "ok", images: 8 });
    const runDir = join(project, "data", "runs", record.runId);
    const downloaded = await runCli(["--json", "download", record.runId], { cwd: project, env });
    expect(downloaded.code, downloaded.stderr).toBe(0);
    // rclone's uploads carry no sha256 metadata: the pod's sha256sums.txt vouches for them.
    expect(JSON.parse(downloaded.stdout).verified).toBeGreaterThanOrEqual(8);
    expect(files(join(runDir, "renders"), /f\d{4}\.png$/)).toHaveLength(8);
    expect((await runCli(["detect", record.runId], { cwd: project, env })).code).toBe(0);
    expect(files(join(runDir, "detections"), /f\d{4}\.json$/)).toHaveLength(8);
    const report = await runCli(["report", record.runId], { cwd: project, env });
    expect(report.code, report.stderr).toBe(0);
    expect(existsSync(join(runDir, "report.html"))).toBe(true);
  });

  it("renders only an added character; exits 1 with a clear summary when it fails, delivering the others", async () => {
    writeFileSync(join(project, "characters", "broken.fbx"), "this is not an FBX file\n");
    const result = await runCli(["pipeline"], { cwd: project, env });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/FAILED\s+broken/);
    expect(result.stdout).toMatch(/ok\s+walker\s+8\b.*reused from/);
    expect(result.stdout).toContain("0 images rendered, 8 reused");
    expect(result.stdout).toContain("report.html");
  });
});

describe("posefactory pipeline with detection on the pod (python backend)", {
  timeout: 400_000,
}, () => {
  it("refuses a pod without mediapipe in one round trip, before anything is uploaded", async () => {
    const bareProject = join(temp.dir, "bare-project");
    mkdirSync(join(bareProject, "characters"), { recursive: true });
    copyFileSync(
      join(project, "characters", "walker.fbx"),
      join(bareProject, "characters", "walker.fbx"),
    );
    // This machine's python3 has no mediapipe and no pose model: a pod setup-pod never saw.
    const config = readFileSync(join(project, "posefactory.yaml"), "utf8")
      .replace("detect: {backend: web, model: lite}", "detect: {backend: python, model: lite}")
      .replace("    costPerHour: 0.5", "    costPerHour: 0.5\n    python: /usr/bin/python3")
      .replace("prefix: e2e/", "prefix: e2e-bare/");
    writeFileSync(join(bareProject, "posefactory.yaml"), config);
    await s3.resetRequests();
    const podRuns = join(temp.dir, "pod", "runs");
    const before = existsSync(podRuns) ? readdirSync(podRuns).length : 0;
    const result = await runCli(["pipeline"], { cwd: bareProject, env });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/remote mediapipe: not found: \/usr\/bin\/python3 cannot import/);
    expect(result.stderr).toMatch(/remote model: not found/);
    expect(result.stderr).toContain("fix: posefactory setup-pod");
    expect(result.stderr).toContain("nothing was uploaded or rendered");
    expect(await s3.count("PUT")).toBe(0);
    expect(existsSync(podRuns) ? readdirSync(podRuns).length : 0).toBe(before);
    // doctor shows the same checks.
    const doctor = await runCli(["--json", "doctor"], { cwd: bareProject, env });
    const checks = JSON.parse(doctor.stdout).checks as { name: string; ok: boolean }[];
    expect(checks.find((c) => c.name === "remote mediapipe")?.ok).toBe(false);
    expect(checks.find((c) => c.name === "remote blender")?.ok).toBe(true);
  });

  it("runs detect_pose.py with real MediaPipe inside the render job and downloads its detections", async () => {
    // The pod's Python is the venv of blender/requirements.txt (what setup-pod installs: bpy 4.5,
    // mediapipe), the model the .task built offline (the official one cannot be fetched here).
    // Nothing is skipped: the preflight finds mediapipe and the model.
    if (POD_PYTHON.missing) {
      if (process.env.CI) throw new Error(POD_PYTHON.missing);
      return;
    }
    const pyProject = join(temp.dir, "py-project");
    mkdirSync(join(pyProject, "characters"), { recursive: true });
    copyFileSync(
      join(project, "characters", "walker.fbx"),
      join(pyProject, "characters", "walker.fbx"),
    );
    const model = await buildPoseModel("lite", join(temp.dir, "model-cache"));
    const config = readFileSync(join(project, "posefactory.yaml"), "utf8")
      .replace(
        "detect: {backend: web, model: lite}",
        `detect: {backend: python, model: lite, modelPath: ${model.path}}`,
      )
      .replace("    costPerHour: 0.5", `    costPerHour: 0.5\n    python: ${POD_PYTHON.path}`)
      .replace("prefix: e2e/", "prefix: e2e-python/");
    writeFileSync(join(pyProject, "posefactory.yaml"), config);
    const result = await runCli(["--json", "pipeline"], { cwd: pyProject, env });
    expect(result.code, result.stderr).toBe(0);
    const record = runRecordSchema.parse(JSON.parse(result.stdout).record);
    expect(record.steps.find((s) => s.id === "detect")?.status).toBe("skipped");
    const runDir = join(pyProject, "data", "runs", record.runId);
    const detections = files(join(runDir, "detections"), /f\d{4}\.json$/);
    expect(detections).toHaveLength(8);
    const found = detections
      .map((d) => JSON.parse(readFileSync(join(runDir, "detections", d), "utf8")))
      .filter((one) => {
        expect(one.backend).toBe("python");
        expect(one.model.sha256).toBe(model.sha256);
        return one.found;
      });
    // Real MediaPipe finds the walker in most of its 8 views (the web backend finds all 8).
    expect(found.length).toBeGreaterThanOrEqual(6);
    expect(found[0].poses[0].landmarks).toHaveLength(33);
    const evaluation = JSON.parse(readFileSync(join(runDir, "evaluation.json"), "utf8"));
    expect(JSON.stringify(evaluation)).toMatch(/"detectionRate"/);
    expect(existsSync(join(runDir, "report.html"))).toBe(true);
  });
  it("detect.models: every model runs on the pod into detections-<model>/, evaluated after the download", async () => {
    if (POD_PYTHON.missing) {
      if (process.env.CI) throw new Error(POD_PYTHON.missing);
      return;
    }
    // A pod set up by setup-pod keeps its models in <PF_PREFIX>/models: here the .task files
    // built offline (the official ones cannot be fetched here), in this pod's own prefix.
    const tools = join(temp.dir, "models-pod-tools");
    mkdirSync(join(tools, "models"), { recursive: true });
    const cache = join(temp.dir, "model-cache");
    const [lite, full] = await Promise.all([
      buildPoseModel("lite", cache),
      buildPoseModel("full", cache),
    ]);
    const pod = await startSshd({ setEnv: { PF_PREFIX: tools } });
    try {
      const modelsProject = join(temp.dir, "models-project");
      mkdirSync(join(modelsProject, "characters"), { recursive: true });
      copyFileSync(
        join(project, "characters", "walker.fbx"),
        join(modelsProject, "characters", "walker.fbx"),
      );
      const config = readFileSync(join(project, "posefactory.yaml"), "utf8")
        .replace(
          "detect: {backend: web, model: lite}",
          `detect: {backend: python, model: lite, modelPath: ${lite.path}, models: [lite, full]}`,
        )
        .replace(
          "cameras: {azimuthsDeg: [0, 90, 180, 270], elevationsDeg: [10]}",
          "cameras: {azimuthsDeg: [0, 90], elevationsDeg: [10]}",
        )
        .replace(`    port: ${sshd.port}`, `    port: ${pod.port}`)
        .replace(`    identityFile: ${sshd.identityFile}`, `    identityFile: ${pod.identityFile}`)
        .replace("    costPerHour: 0.5", `    costPerHour: 0.5\n    python: ${POD_PYTHON.path}`)
        .replace("prefix: e2e/", "prefix: e2e-models/");
      writeFileSync(join(modelsProject, "posefactory.yaml"), config);
      // Without the further model's file the preflight refuses the pod, naming that file.
      const refused = await runCli(["pipeline"], { cwd: modelsProject, env });
      expect(refused.code, refused.stderr).toBe(2);
      expect(refused.stderr).toMatch(/remote model: not found: \S*pose_landmarker_full\.task/);
      copyFileSync(full.path, join(tools, "models", "pose_landmarker_full.task"));
      const result = await runCli(["--json", "pipeline"], { cwd: modelsProject, env });
      expect(result.code, result.stderr).toBe(0);
      // The preflight found both model files (detect.modelPath and setup-pod's full).
      expect(result.stderr).toMatch(/preflight on .*model ok/);
      const record = runRecordSchema.parse(JSON.parse(result.stdout).record);
      expect(record.steps.find((s) => s.id === "detect")?.status).toBe("skipped");
      const runDir = join(modelsProject, "data", "runs", record.runId);
      const renders = files(join(runDir, "renders"), /f\d{4}\.png$/);
      expect(renders).toHaveLength(4);
      for (const [root, model] of [
        ["detections", lite],
        ["detections-full", full],
      ] as const) {
        const detections = files(join(runDir, root), /f\d{4}\.json$/);
        expect(detections, root).toHaveLength(4);
        for (const d of detections) {
          const one = JSON.parse(readFileSync(join(runDir, root, d), "utf8"));
          expect(one.backend).toBe("python");
          expect(one.model.sha256).toBe(model.sha256);
        }
      }
      expect(existsSync(join(runDir, "detections-lite"))).toBe(false);
      // Verified against the pod's sha256sums.txt like detections/.
      expect(readFileSync(join(runDir, "sha256sums.txt"), "utf8")).toContain("detections-full/");
      const evaluation = JSON.parse(readFileSync(join(runDir, "evaluation.json"), "utf8"));
      const names = Object.keys(evaluation.models).sort();
      expect(names).toHaveLength(2);
      expect(names.some((n) => n.includes("full"))).toBe(true);
      for (const name of names) expect(evaluation.models[name].overall.images).toBe(4);
      expect(readFileSync(join(runDir, "report.html"), "utf8")).toContain('id="models"');
    } finally {
      await pod.stop();
    }
  });

  it("delivers the renders when detection fails on the pod; --resume only detects", async () => {
    const partProject = join(temp.dir, "partial-project");
    mkdirSync(join(partProject, "characters"), { recursive: true });
    copyFileSync(
      join(project, "characters", "walker.fbx"),
      join(partProject, "characters", "walker.fbx"),
    );
    // The pod's python3 has no mediapipe: detect_pose.py fails (exit 21) after the render.
    // Preflight would refuse that pod; POSEFACTORY_PREFLIGHT_SKIP lets it through on purpose.
    const base = readFileSync(join(project, "posefactory.yaml"), "utf8")
      .replace("detect: {backend: web, model: lite}", "detect: {backend: python, model: lite}")
      .replace("prefix: e2e/", "prefix: e2e-partial/");
    writeFileSync(
      join(partProject, "posefactory.yaml"),
      base.replace("    costPerHour: 0.5", "    costPerHour: 0.5\n    python: /usr/bin/python3"),
    );
    const skipEnv = { ...env, POSEFACTORY_PREFLIGHT_SKIP: "mediapipe,model" };
    const failed = await runCli(["--json", "pipeline"], { cwd: partProject, env: skipEnv });
    expect(failed.code, failed.stderr).toBe(1);
    const out = JSON.parse(failed.stdout);
    const runId = out.runId as string;
    const record = runRecordSchema.parse(out.record);
    expect(record.status).toBe("partial");
    expect(record.hostFailure).toMatchObject({ step: "detect", exitCode: 21 });
    expect(record.hostFailure?.fix).toContain("posefactory setup-pod");
    expect(record.hostFailure?.fix).toContain(`posefactory pipeline --resume ${runId}`);
    expect(record.steps.map((s) => [s.id, s.status])).toEqual([
      ["upload", "done"],
      ["render", "failed"],
      ["download", "done"],
      ["reuse", "skipped"],
      ["detect", "skipped"],
      ["report", "skipped"],
    ]);
    expect(record.counts.imagesRendered).toBe(8);
    expect(record.characters[0]).toMatchObject({ name: "walker", status: "ok", images: 8 });
    const runDir = join(partProject, "data", "runs", runId);
    const renders = files(join(runDir, "renders"), /f\d{4}\.png$/);
    expect(renders).toHaveLength(8);
    expect(files(join(runDir, "detections"), /f\d{4}\.json$/)).toHaveLength(0);
    const human = await runCli(["runs"], { cwd: partProject, env });
    expect(human.stdout).toMatch(new RegExp(`${runId}\\s+partial`));

    // The pod is fixed (here: a python with the stand-in landmarker); --resume only detects.
    const podRun = join(temp.dir, "pod", "runs", runId);
    const manifestMtime = statSync(join(podRun, "manifest.json")).mtimeMs;
    const renderMtime = statSync(join(runDir, "renders", renders[0]!)).mtimeMs;
    const fakePython = join(temp.dir, "pod-python-fixed");
    writeFileSync(fakePython, '#!/bin/sh\nexec python3 "$@" --fake-landmarker\n', { mode: 0o755 });
    writeFileSync(
      join(partProject, "posefactory.yaml"),
      base.replace("    costPerHour: 0.5", `    costPerHour: 0.5\n    python: ${fakePython}`),
    );
    const resumed = await runCli(["--json", "pipeline", "--resume", runId], {
      cwd: partProject,
      env: skipEnv,
    });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain("detecting poses again");
    const done = runRecordSchema.parse(JSON.parse(resumed.stdout).record);
    expect(done.status).toBe("ok");
    expect(done.hostFailure).toBeUndefined();
    // No Blender ran: the second job's log has no render, the pod's manifest is untouched.
    const jobLog = readFileSync(join(podRun, "job.log"), "utf8");
    expect(jobLog).toContain("detecting poses");
    expect(jobLog).not.toContain("rendering");
    expect(statSync(join(podRun, "manifest.json")).mtimeMs).toBe(manifestMtime);
    expect(statSync(join(runDir, "renders", renders[0]!)).mtimeMs).toBe(renderMtime);
    expect(files(join(runDir, "detections"), /f\d{4}\.json$/)).toHaveLength(8);
    expect(existsSync(join(runDir, "report.html"))).toBe(true);
  });
});

describe("posefactory pipeline with scene.backgrounds and animations on the pod", {
  timeout: 400_000,
}, () => {
  it("uploads both folders, the pod pulls them and renders with exactly their files", async () => {
    const assetsProject = join(temp.dir, "assets-project");
    const backgrounds = join(assetsProject, "backgrounds");
    const animations = join(assetsProject, "animations");
    for (const d of ["characters", "backgrounds", "animations"])
      mkdirSync(join(assetsProject, d), { recursive: true });
    copyFileSync(
      join(project, "characters", "walker.fbx"),
      join(assetsProject, "characters", "walker.fbx"),
    );
    writeHdr(join(backgrounds, "green.hdr"), 16, 8, [0.1, 0.9, 0.2]);
    await writePlate(join(backgrounds, "blue.jpg"), 32, 24, [20, 40, 230]);
    const executor = createLocalExecutor({ logger: createSilentLogger(), baseDir: temp.dir });
    const made = await executor.run(
      blenderScriptCommand(
        DEFAULT_BLENDER.setting,
        join(dirname(fileURLToPath(import.meta.url)), "../helpers/make_animation.py"),
        ["--out", join(animations, "wave.fbx")],
      ),
    );
    expect(made.exitCode, made.stderrTail).toBe(0);
    // An earlier run's background is still in the pod's inputs cache: this run must not use it.
    const podInputs = join(temp.dir, "pod", "inputs");
    mkdirSync(join(podInputs, "backgrounds"), { recursive: true });
    await writePlate(join(podInputs, "backgrounds", "stale.png"), 8, 8, [200, 0, 0]);
    const config = readFileSync(join(project, "posefactory.yaml"), "utf8")
      .replace(
        "cameras: {azimuthsDeg: [0, 90, 180, 270], elevationsDeg: [10]}",
        [
          "cameras: {azimuthsDeg: [0, 180], elevationsDeg: [10]}",
          "scene: {seed: 3, backgrounds: backgrounds}",
          "animations: animations",
        ].join("\n"),
      )
      .replace(
        "render: {samples: 4, resolution: [192, 192]}",
        "render: {samples: 2, resolution: [64, 64]}",
      )
      .replace("detect: {backend: web, model: lite}", "detect: {enabled: false}")
      .replace("prefix: e2e/", "prefix: e2e-assets/");
    writeFileSync(join(assetsProject, "posefactory.yaml"), config);
    const result = await runCli(["--json", "pipeline"], { cwd: assetsProject, env });
    expect(result.code, result.stderr).toBe(0);
    const runId = runIdOf(result.stdout);
    const runDir = join(assetsProject, "data", "runs", runId);

    // In storage next to the characters, and pulled in the one list of the run's inputs.
    const bucket = join(s3.directory, "pf-e2e");
    const keys = files(bucket, /inputs\/(backgrounds|animations)\//).join("\n");
    for (const name of ["backgrounds/green.hdr", "backgrounds/blue.jpg", "animations/wave.fbx"])
      expect(keys).toContain(`e2e-assets/inputs/${name}`);
    const podRun = join(temp.dir, "pod", "runs", runId);
    const inputs = readFileSync(join(podRun, "inputs.txt"), "utf8").split("\n");
    expect(inputs).toEqual(
      expect.arrayContaining([
        "characters/walker.fbx",
        "blender/render.py",
        "backgrounds/blue.jpg",
        "backgrounds/green.hdr",
        "animations/wave.fbx",
      ]),
    );
    // job.json points at the run's own assets/, which holds exactly the configured files.
    const job = JSON.parse(readFileSync(join(podRun, "job.json"), "utf8"));
    expect(job.scene.backgrounds).toBe(join(podRun, "assets", "backgrounds"));
    expect(job.animations).toBe(join(podRun, "assets", "animations"));
    expect(readdirSync(join(podRun, "assets", "backgrounds")).sort()).toEqual([
      "blue.jpg",
      "green.hdr",
    ]);
    expect(existsSync(join(podInputs, "backgrounds", "stale.png"))).toBe(true);

    // The renders used them: the wave clip exists, every image names one of the two files.
    const manifest = JSON.parse(readFileSync(join(runDir, "manifest.json"), "utf8"));
    const walker = manifest.characters[0];
    expect(walker.status, walker.error).toBe("ok");
    expect(walker.animations).toEqual([
      expect.objectContaining({ file: "wave.fbx", clip: "wave", status: "applied" }),
    ]);
    expect(files(join(runDir, "renders", "walker", "wave"), /f\d{4}\.png$/).length).toBeGreaterThan(
      0,
    );
    const annotations = JSON.parse(
      readFileSync(join(runDir, "renders", "walker", "annotations.json"), "utf8"),
    );
    const used = new Set(
      annotations.images.map(
        (i: { scene: { background: { file?: string } } }) => i.scene.background.file,
      ),
    );
    expect(
      [...used].every((f) => f === "green.hdr" || f === "blue.jpg"),
      [...used].join(),
    ).toBe(true);
    expect(annotations.images.some((i: { clip: string }) => i.clip === "wave")).toBe(true);
    // assets/ stays on the pod: it is no result.
    expect(existsSync(join(runDir, "assets"))).toBe(false);
  });
});
