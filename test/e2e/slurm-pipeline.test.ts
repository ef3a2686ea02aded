/**
 * The pipeline on the real one-node Slurm cluster (two fake GPUs), real Blender, s3rver as
 * storage, rclone in the tasks: through the local mode (posefactory on the login node) and
 * through the loopback sshd as the login node. 2 characters x 2 clips -> 3 array tasks.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunRecord, runRecordSchema } from "../../src/pipeline/run-record.js";
import { writeHdr } from "../helpers/backgrounds.js";
import { getSampleCharacters, POD_PYTHON } from "../helpers/blender.js";
import { cleanEnv, makeTempDir, runCli } from "../helpers/cli.js";
import { buildPoseModel } from "../helpers/pose-models.js";
import { type S3rverHandle, startS3rver } from "../helpers/s3rver.js";
import {
  cancelJobsUnder,
  liveJobs,
  requireSlurmCluster,
  type SlurmCluster,
} from "../helpers/slurm.js";
import { type SshdServer, startSshd } from "../helpers/sshd.js";

// Unique, so a search for it anywhere finds only real leaks.
const SECRET = `pf-slurm-secret-${process.pid}-${Date.now()}`;

let cluster: SlurmCluster;
let s3: S3rverHandle;
let sshd: SshdServer;
let temp: ReturnType<typeof makeTempDir>;
let env: NodeJS.ProcessEnv;

interface Project {
  dir: string;
  workdir: string;
}

function files(dir: string, pattern: RegExp): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => pattern.test(f))
    .sort();
}

function record(project: Project, runId: string): RunRecord {
  return runRecordSchema.parse(
    JSON.parse(readFileSync(join(project.dir, "data", "runs", runId, "run.json"), "utf8")),
  );
}

/** A project with two characters (each with the clips Walk and Wave) and targets for it. */
function makeProject(
  name: string,
  extra: { target: string[]; characters?: Record<string, Buffer>; clips?: string; detect?: string },
): Project {
  const dir = join(temp.dir, name);
  const workdir = join(temp.dir, `${name}-cluster`);
  mkdirSync(join(dir, "characters"), { recursive: true });
  for (const [file, data] of Object.entries(extra.characters ?? {}))
    writeFileSync(join(dir, "characters", file), data);
  writeFileSync(
    join(dir, "posefactory.yaml"),
    [
      "target: cluster",
      `clips: ${extra.clips ?? "[Walk, Wave]"}`,
      "frames: {step: 40}",
      "cameras: {azimuthsDeg: [0, 180], elevationsDeg: [10]}",
      "render: {samples: 2, resolution: [64, 64]}",
      `detect: ${extra.detect ?? "{backend: web, model: lite}"}`,
      "targets:",
      "  here:",
      "    executor: local",
      "  cluster:",
      "    executor: slurm",
      `    workdir: ${workdir}`,
      "    maxShards: 3",
      "    cpusPerTask: 1",
      "    memPerTask: 500M",
      ...extra.target.map((l) => `    ${l}`),
      `    storage: {type: s3, endpoint: '${s3.endpoint}', bucket: pf-slurm, prefix: ${name}/}`,
      "",
    ].join("\n"),
  );
  return { dir, workdir };
}

let glb: Buffer;

beforeAll(async () => {
  cluster = requireSlurmCluster();
  [s3, sshd] = await Promise.all([startS3rver({ buckets: ["pf-slurm"] }), startSshd()]);
  temp = makeTempDir("pf-slurm-e2e-");
  glb = readFileSync((await getSampleCharacters()).glb);
  env = cleanEnv(
    { POSEFACTORY_S3_ACCESS_KEY_ID: "S3RVER", POSEFACTORY_S3_SECRET_ACCESS_KEY: SECRET },
    temp.home,
  );
}, 300_000);

afterAll(async () => {
  if (temp) cancelJobsUnder(temp.dir);
  await Promise.all([s3?.stop(), sshd?.stop()]);
  temp?.cleanup();
});

/** Everything under `dir` that contains the secret (grep exits 1 when nothing does). */
function grepSecret(dir: string): string {
  try {
    return execFileSync("grep", ["-rl", "--", SECRET, dir], { encoding: "utf8" });
  } catch (error) {
    if ((error as { status?: number }).status === 1) return "";
    throw error;
  }
}

describe("posefactory pipeline on a Slurm target", { timeout: 1_500_000 }, () => {
  let local: Project;
  let slurmRun: string;

  it("local mode: 3 array tasks, merged into one run equal to a single-host run", async () => {
    local = makeProject("local", { target: [], characters: { "alice.glb": glb, "bob.glb": glb } });
    const result = await runCli(["--json", "pipeline"], { cwd: local.dir, env });
    expect(result.code, result.stderr).toBe(0);
    slurmRun = JSON.parse(result.stdout).runId;
    const rec = record(local, slurmRun);
    expect(rec.status).toBe("ok");
    expect(rec.slurm?.jobId).toMatch(/^\d+$/);
    expect(rec.slurm?.shards).toHaveLength(3);
    expect(rec.slurm?.shards.every((s) => s.state === "done" && s.exitCode === 0)).toBe(true);
    expect(rec.slurm?.shards.flatMap((s) => s.units).length).toBe(4);
    for (const s of rec.slurm?.shards ?? []) {
      expect(s.node).toBe(cluster.node);
      expect(s.seconds).toBeTypeOf("number");
    }
    // A character's clips can land in different shards; the merge joins them again.
    const runDir = join(local.dir, "data", "runs", slurmRun);
    const pngs = files(join(runDir, "renders"), /f\d{4}\.png$/);
    for (const unit of ["alice/Walk/", "alice/Wave/", "bob/Walk/", "bob/Wave/"])
      expect(pngs.filter((p) => p.startsWith(unit)).length).toBeGreaterThanOrEqual(2);
    expect(existsSync(join(runDir, "report.html"))).toBe(true);

    // The same config on one host.
    const single = await runCli(["--json", "pipeline", "--target", "here"], {
      cwd: local.dir,
      env,
    });
    expect(single.code, single.stderr).toBe(0);
    const singleDir = join(local.dir, "data", "runs", JSON.parse(single.stdout).runId);
    expect(files(join(runDir, "renders"), /\.png$/)).toEqual(
      files(join(singleDir, "renders"), /\.png$/),
    );
    for (const character of ["alice", "bob"]) {
      const a = JSON.parse(
        readFileSync(join(runDir, "renders", character, "annotations.json"), "utf8"),
      );
      const b = JSON.parse(
        readFileSync(join(singleDir, "renders", character, "annotations.json"), "utf8"),
      );
      expect(a.images.map((i: { id: number; file_name: string }) => [i.id, i.file_name])).toEqual(
        b.images.map((i: { id: number; file_name: string }) => [i.id, i.file_name]),
      );
      expect(a.annotations.length).toBe(b.annotations.length);
      a.annotations.forEach((x: { image_id: number; keypoints: number[] }, k: number) => {
        const y = b.annotations[k] as { image_id: number; keypoints: number[] };
        expect(x.image_id).toBe(y.image_id);
        const worst = Math.max(
          ...x.keypoints.map((v, j) => Math.abs(v - (y.keypoints[j] ?? Number.NaN))),
        );
        expect(worst).toBeLessThan(0.01);
      });
    }
    const manifest = JSON.parse(readFileSync(join(runDir, "manifest.json"), "utf8"));
    const singleManifest = JSON.parse(readFileSync(join(singleDir, "manifest.json"), "utf8"));
    expect(
      manifest.characters.map((c: { name: string; images: { path: string }[] }) => [
        c.name,
        c.images.map((i) => i.path),
      ]),
    ).toEqual(
      singleManifest.characters.map((c: { name: string; images: { path: string }[] }) => [
        c.name,
        c.images.map((i) => i.path),
      ]),
    );
  });

  it("keeps the storage keys off Slurm: not in scontrol, the state directory or any file after the run", () => {
    const rec = record(local, slurmRun);
    const ids = [...(rec.slurm?.jobIds ?? []), ...(rec.slurm?.cleanupJobIds ?? [])];
    for (const id of ids) {
      const shown = execFileSync("scontrol", ["show", "job", id], { encoding: "utf8" });
      expect(shown).not.toContain(SECRET);
      expect(shown).toContain(`pf-${slurmRun}`);
    }
    expect(grepSecret(cluster.stateDir)).toBe("");
    expect(grepSecret("/var/lib/slurm")).toBe("");
    expect(grepSecret(local.workdir)).toBe("");
    expect(grepSecret(local.dir)).toBe("");
    expect(files(join(local.workdir, "runs", slurmRun), /\.pf-env/)).toEqual([]);
  });

  it("status shows every shard; logs --shard prints one shard's log", async () => {
    const status = await runCli(["status", slurmRun], { cwd: local.dir, env });
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/3 done, 0 failed/);
    expect(status.stdout.match(/shard \d: done/g)).toHaveLength(3);
    const logs = await runCli(["logs", slurmRun, "--shard", "1"], { cwd: local.dir, env });
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toMatch(/shard 1: task \d+_1 on/);
    expect(logs.stdout).not.toMatch(/shard 0: task/);
  });

  it("through the loopback sshd as the login node: the same run, with scene.backgrounds", async () => {
    const viaSsh = makeProject("viassh", {
      target: [
        `ssh: {host: ${sshd.host}, port: ${sshd.port}, user: ${sshd.user}, identityFile: ${sshd.identityFile}}`,
      ],
      characters: { "alice.glb": glb, "bob.glb": glb },
      detect: "{enabled: false}",
    });
    // A backgrounds folder: uploaded, pulled by every task into its shard's assets/.
    mkdirSync(join(viaSsh.dir, "backgrounds"));
    writeHdr(join(viaSsh.dir, "backgrounds", "green.hdr"), 16, 8, [0.1, 0.9, 0.2]);
    const yaml = join(viaSsh.dir, "posefactory.yaml");
    writeFileSync(
      yaml,
      `${readFileSync(yaml, "utf8")}scene: {seed: 1, backgrounds: backgrounds}\n`,
    );
    const result = await runCli(["--json", "pipeline"], { cwd: viaSsh.dir, env });
    expect(result.code, result.stderr).toBe(0);
    const runId = JSON.parse(result.stdout).runId;
    expect(record(viaSsh, runId).slurm?.shards.map((s) => s.state)).toEqual([
      "done",
      "done",
      "done",
    ]);
    if (process.env.PF_SLURM_E2E_LOG) writeFileSync(process.env.PF_SLURM_E2E_LOG, result.stderr);
    // The same images (a scene adds a .mask.png to each; the local run has none).
    const pngs = files(join(viaSsh.dir, "data", "runs", runId, "renders"), /f\d{4}\.png$/);
    for (const unit of ["alice/Walk/", "alice/Wave/", "bob/Walk/", "bob/Wave/"])
      expect(pngs.filter((f) => f.startsWith(unit)).length).toBeGreaterThanOrEqual(2);
    if (slurmRun)
      expect(pngs).toEqual(
        files(join(local.dir, "data", "runs", slurmRun, "renders"), /f\d{4}\.png$/),
      );
    for (const character of ["alice", "bob"]) {
      const annotations = JSON.parse(
        readFileSync(
          join(viaSsh.dir, "data", "runs", runId, "renders", character, "annotations.json"),
          "utf8",
        ),
      );
      expect(annotations.images.length).toBeGreaterThan(0);
      for (const image of annotations.images)
        expect(image.scene.background).toMatchObject({ file: "green.hdr" });
    }
    const shardsDir = join(viaSsh.workdir, "runs", runId, "shards");
    for (const shard of readdirSync(shardsDir))
      expect(readdirSync(join(shardsDir, shard, "assets", "backgrounds"))).toEqual(["green.hdr"]);
    expect(grepSecret(viaSsh.workdir)).toBe("");
  });

  it("detect.models with the python backend: each task detects with every model and pushes detections-<model>/", async () => {
    if (POD_PYTHON.missing) {
      if (process.env.CI) throw new Error(POD_PYTHON.missing);
      return;
    }
    // setup-pod's layout for the models (built offline: the official files cannot be fetched
    // here), found through PF_PREFIX, which the target's setup lines export in every task.
    const tools = join(temp.dir, "models-tools");
    mkdirSync(join(tools, "models"), { recursive: true });
    const cache = join(temp.dir, "model-cache");
    const [lite, full] = await Promise.all([
      buildPoseModel("lite", cache),
      buildPoseModel("full", cache),
    ]);
    writeFileSync(join(tools, "models", "pose_landmarker_full.task"), readFileSync(full.path));
    const p = makeProject("models", {
      target: [`python: ${POD_PYTHON.path}`, `setup: ['export PF_PREFIX=${tools}']`],
      clips: "[Walk]",
      detect: `{backend: python, model: lite, modelPath: ${lite.path}, models: [lite, full]}`,
      characters: { "alice.glb": glb },
    });
    const result = await runCli(["--json", "pipeline"], { cwd: p.dir, env });
    expect(result.code, result.stderr).toBe(0);
    const runId = JSON.parse(result.stdout).runId;
    const runDir = join(p.dir, "data", "runs", runId);
    const renders = files(join(runDir, "renders"), /f\d{4}\.png$/);
    expect(renders.length).toBeGreaterThan(0);
    for (const [root, model] of [
      ["detections", lite],
      ["detections-full", full],
    ] as const) {
      const detections = files(join(runDir, root), /f\d{4}\.json$/);
      expect(detections, root).toHaveLength(renders.length);
      for (const d of detections)
        expect(JSON.parse(readFileSync(join(runDir, root, d), "utf8")).model.sha256).toBe(
          model.sha256,
        );
    }
    expect(readFileSync(join(runDir, "sha256sums.txt"), "utf8")).toContain("detections-full/");
    const evaluation = JSON.parse(readFileSync(join(runDir, "evaluation.json"), "utf8"));
    expect(Object.keys(evaluation.models)).toHaveLength(2);
  });

  it("a corrupt character fails only its shard; the rest is delivered; --resume resubmits only that shard", async () => {
    const p = makeProject("corrupt", {
      target: [],
      clips: "[Walk]",
      detect: "{enabled: false}",
      characters: {
        "alice.glb": glb,
        "bob.glb": glb,
        "broken.glb": Buffer.from("glTF this is not a model"),
      },
    });
    const result = await runCli(["--json", "pipeline"], { cwd: p.dir, env });
    expect(result.code, result.stderr).toBe(1);
    const runId = JSON.parse(result.stdout).runId;
    const rec = record(p, runId);
    expect(rec.status).toBe("partial");
    const shardOf = (name: string) =>
      rec.slurm?.shards.find((s) => s.units.some((u) => u.character === name));
    expect(shardOf("broken")).toMatchObject({ state: "failed", slurmState: "FAILED", exitCode: 1 });
    expect(shardOf("alice")?.state).toBe("done");
    expect(shardOf("bob")?.state).toBe("done");
    expect(rec.characters.map((c) => [c.name, c.status])).toEqual([
      ["alice", "ok"],
      ["bob", "ok"],
      ["broken", "failed"],
    ]);
    const runDir = join(p.dir, "data", "runs", runId, "renders");
    expect(files(join(runDir, "alice"), /\.png$/).length).toBeGreaterThan(0);
    expect(files(join(runDir, "bob"), /\.png$/).length).toBeGreaterThan(0);

    const resumed = await runCli(["--json", "pipeline", "--resume", runId], { cwd: p.dir, env });
    expect(resumed.code, resumed.stderr).toBe(1);
    const after = record(p, runId);
    expect(after.slurm?.jobIds).toHaveLength(2);
    const again = after.slurm?.shards.find((s) => s.index === shardOf("broken")?.index);
    expect(again).toMatchObject({
      attempts: 2,
      jobId: after.slurm?.jobIds[1],
      taskId: again?.index,
    });
    for (const s of after.slurm?.shards ?? [])
      if (s.index !== again?.index)
        expect(s).toMatchObject({ attempts: 1, jobId: after.slurm?.jobIds[0] });
    expect(resumed.stderr).toMatch(/resubmitting 1 of 3 shards/);
  });

  it("a task past timeLimit fails as TIMEOUT; --resume renders it and the run completes", async () => {
    const p = makeProject("timeout", {
      target: [
        'timeLimit: "1"',
        `setup: ['if [ "$shard" = 0 ] && [ ! -e "$run_dir/.slow-once" ]; then touch "$run_dir/.slow-once"; sleep 300; fi']`,
      ],
      clips: "[Walk]",
      detect: "{enabled: false}",
      characters: { "alice.glb": glb, "bob.glb": glb },
    });
    const result = await runCli(["--json", "pipeline"], { cwd: p.dir, env });
    expect(result.code, result.stderr).toBe(1);
    const runId = JSON.parse(result.stdout).runId;
    const rec = record(p, runId);
    expect(rec.slurm?.shards.map((s) => [s.index, s.state, s.slurmState])).toEqual([
      [0, "failed", "TIMEOUT"],
      [1, "done", "COMPLETED"],
    ]);
    expect(rec.status).toBe("partial");
    const resumed = await runCli(["--json", "pipeline", "--resume", runId], { cwd: p.dir, env });
    expect(resumed.code, resumed.stderr).toBe(0);
    const after = record(p, runId);
    expect(after.status).toBe("ok");
    expect(after.slurm?.shards.map((s) => [s.state, s.attempts])).toEqual([
      ["done", 2],
      ["done", 1],
    ]);
    expect(files(join(p.workdir, "runs", runId), /\.pf-env/)).toEqual([]);
  });

  it("Ctrl-C cancels the array and leaves no task; --detach leaves it running and stop cancels it", async () => {
    const p = makeProject("interrupt", {
      target: ["setup: ['sleep 300']"],
      clips: "[Walk]",
      detect: "{enabled: false}",
      characters: { "alice.glb": glb, "bob.glb": glb },
    });
    const controller = new AbortController();
    const running = runCli(["--json", "pipeline"], { cwd: p.dir, env, signal: controller.signal });
    // The run's id is its folder's name; its tasks are named pf-<runId>.
    const runIdOf = () => files(join(p.workdir, "runs"), /^[^/]+\/slurm\.json$/)[0]?.split("/")[0];
    for (let i = 0; i < 2400 && !(runIdOf() && liveJobs(`pf-${runIdOf()}`).length >= 2); i++)
      await new Promise((r) => setTimeout(r, 250));
    const interrupted = runIdOf();
    expect(liveJobs(`pf-${interrupted}`).length).toBeGreaterThan(0);
    controller.abort();
    const result = await running;
    expect(result.code, result.stderr).toBe(130);
    expect(liveJobs(`pf-${interrupted}`), result.stderr).toEqual([]);
    expect(files(join(p.workdir, "runs"), /\.pf-env/)).toEqual([]);

    const detached = await runCli(["--json", "pipeline", "--detach"], { cwd: p.dir, env });
    expect(detached.code, detached.stderr).toBe(0);
    const runId = JSON.parse(detached.stdout).runId;
    expect(liveJobs(`pf-${runId}`).length).toBeGreaterThan(0);
    const stopped = await runCli(["stop", runId], { cwd: p.dir, env });
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(stopped.stdout).toMatch(/cancelled 2 shard/);
    expect(liveJobs(`pf-${runId}`)).toEqual([]);
    expect(files(join(p.workdir, "runs", runId), /\.pf-env/)).toEqual([]);
  });
});
