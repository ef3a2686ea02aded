/**
 * The whole `posefactory pipeline` (detection off, so both sides do the same work) vs the
 * user's old alias chain doing the same render against the same local servers:
 *   rclone copy characters/ + blender/ up; ssh pod 'rclone copy down; blender ...; rclone copy up';
 *   rclone copy the results down.
 * Then the time of a no-change re-run of the pipeline. Prints all three and the ratios.
 */
import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { configSchema } from "../../src/config/schema.js";
import { buildJob, listCharacterFiles } from "../../src/render/job.js";
import { blenderScriptCommand } from "../../src/render/launcher.js";
import { BLENDER_DIR } from "../../src/render/sample.js";
import { getSampleCharacters } from "../helpers/blender.js";
import { cleanEnv, makeTempDir, runCli } from "../helpers/cli.js";
import { startS3rver } from "../helpers/s3rver.js";
import { opensshArgs, startSshd } from "../helpers/sshd.js";

const run = promisify(execFile);
const [s3, sshd] = await Promise.all([startS3rver({ buckets: ["bench"] }), startSshd()]);
const temp = makeTempDir("pf-bench-pipeline-");
try {
  const project = join(temp.dir, "project");
  mkdirSync(join(project, "characters"), { recursive: true });
  copyFileSync((await getSampleCharacters()).fbx, join(project, "characters", "walker.fbx"));
  const settings = {
    frames: { step: 20 },
    cameras: { azimuthsDeg: [0, 45, 90, 135, 180, 225, 270, 315], elevationsDeg: [10] },
    render: { samples: 4, resolution: [192, 192] },
    detect: { enabled: false },
  };
  const pod = join(temp.dir, "pod");
  writeFileSync(
    join(project, "posefactory.yaml"),
    `${JSON.stringify({
      ...settings,
      target: "pod",
      targets: {
        pod: {
          executor: "ssh",
          host: sshd.host,
          port: sshd.port,
          user: sshd.user,
          identityFile: sshd.identityFile,
          workdir: join(pod, "pf"),
          storage: { type: "s3", endpoint: s3.endpoint, bucket: "bench", prefix: "pf/" },
        },
      },
    })}\n`,
  );
  const env = cleanEnv(
    { POSEFACTORY_S3_ACCESS_KEY_ID: "S3RVER", POSEFACTORY_S3_SECRET_ACCESS_KEY: "S3RVER" },
    temp.home,
  );

  // The old way: rclone configured by environment, OpenSSH for the pod.
  const rcloneEnv: NodeJS.ProcessEnv = {
    ...cleanEnv({}, temp.home),
    RCLONE_CONFIG_R2_TYPE: "s3",
    RCLONE_CONFIG_R2_PROVIDER: "Other",
    RCLONE_CONFIG_R2_ACCESS_KEY_ID: "S3RVER",
    RCLONE_CONFIG_R2_SECRET_ACCESS_KEY: "S3RVER",
    RCLONE_CONFIG_R2_ENDPOINT: s3.endpoint,
    RCLONE_CONFIG_R2_FORCE_PATH_STYLE: "true",
    RCLONE_CONFIG_R2_NO_CHECK_BUCKET: "true",
  };
  delete rcloneEnv.AWS_CA_BUNDLE;
  const exportLines = Object.entries(rcloneEnv)
    .filter(([k]) => k.startsWith("RCLONE_"))
    .map(([k, v]) => `export ${k}='${v}'`)
    .join("; ");
  const config = configSchema.parse(settings);
  const oldPod = join(pod, "old");
  const characters = (await listCharacterFiles(join(project, "characters"))).map((c) => ({
    ...c,
    file: join(oldPod, "inputs", "walker.fbx"),
  }));
  const job = buildJob(config, { runId: "old", characters, outDir: join(oldPod, "out") });
  writeFileSync(join(temp.dir, "job.json"), JSON.stringify(job));
  const sshArgs = opensshArgs(sshd, join(temp.dir, "kh"));
  const podScript = [
    exportLines,
    `mkdir -p ${oldPod}/inputs ${oldPod}/out`,
    `rclone copy r2:bench/old/inputs ${oldPod}/inputs`,
    `cp ${temp.dir}/job.json ${oldPod}/job.json`,
    `${blenderScriptCommand("blender", `${oldPod}/inputs/blender/render.py`, ["--job", `${oldPod}/job.json`])} > ${oldPod}/blender.log 2>&1`,
    `rclone copy ${oldPod}/out r2:bench/old/out`,
  ].join(" && ");

  const t0 = performance.now();
  await run("rclone", ["copy", join(project, "characters"), "r2:bench/old/inputs"], {
    env: rcloneEnv,
  });
  await run("rclone", ["copy", BLENDER_DIR, "r2:bench/old/inputs/blender"], { env: rcloneEnv });
  await run("ssh", [...sshArgs, podScript], { env: rcloneEnv, maxBuffer: 64 << 20 });
  await run("rclone", ["copy", "r2:bench/old/out", join(temp.dir, "old-download")], {
    env: rcloneEnv,
  });
  const oldSeconds = (performance.now() - t0) / 1000;

  const t1 = performance.now();
  const first = await runCli(["-q", "pipeline"], { cwd: project, env });
  const pipelineSeconds = (performance.now() - t1) / 1000;
  if (first.code !== 0) throw new Error(`pipeline failed: ${first.stderr}`);
  const steps = (await runCli(["--json", "runs"], { cwd: project, env })).stdout;
  const runId = JSON.parse(steps).runs[0].runId as string;
  const record = JSON.parse(
    (await runCli(["--json", "runs", "show", runId], { cwd: project, env })).stdout,
  );
  const stepTimes = record.steps
    .map(
      (s: { id: string; status: string; seconds?: number }) => `${s.id} ${s.seconds ?? s.status}`,
    )
    .join(", ");

  const t2 = performance.now();
  const again = await runCli(["-q", "pipeline"], { cwd: project, env });
  const rerunSeconds = (performance.now() - t2) / 1000;
  if (again.code !== 0) throw new Error(`re-run failed: ${again.stderr}`);

  console.log(
    `sample character, 8 cameras, ${job.characters.length} character, same render settings`,
  );
  console.log(`old alias chain (rclone up; ssh blender; rclone down): ${oldSeconds.toFixed(2)} s`);
  console.log(
    `posefactory pipeline:                                  ${pipelineSeconds.toFixed(2)} s  (ratio ${(pipelineSeconds / oldSeconds).toFixed(2)}x of the old chain)`,
  );
  console.log(`  steps: ${stepTimes}`);
  console.log(
    `posefactory pipeline, nothing changed:                 ${rerunSeconds.toFixed(2)} s  (ratio ${(rerunSeconds / oldSeconds).toFixed(3)}x)`,
  );
} finally {
  await Promise.all([s3.stop(), sshd.stop()]);
  temp.cleanup();
}
