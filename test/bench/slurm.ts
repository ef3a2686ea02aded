/**
 * A Slurm run on the one-node test cluster (two fake GPUs) with one task at a time (the
 * array's %1: one GPU in use) vs two at a time (%2: both GPUs): the same 4-shard run, real
 * Blender, s3rver, rclone. Prints both times and the speed-up. The cluster has 2 CPU cores:
 * Blender on CPU competes for them, so the ratio shows the scheduling, not real GPUs.
 */
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getSampleCharacters } from "../helpers/blender.js";
import { cleanEnv, makeTempDir, runCli } from "../helpers/cli.js";
import { startS3rver } from "../helpers/s3rver.js";
import { requireSlurmCluster } from "../helpers/slurm.js";

const cluster = requireSlurmCluster();
const s3 = await startS3rver({ buckets: ["bench"] });
const temp = makeTempDir("pf-bench-slurm-");
try {
  const project = join(temp.dir, "project");
  mkdirSync(join(project, "characters"), { recursive: true });
  const glb = (await getSampleCharacters()).glb;
  for (const name of ["a", "b"]) copyFileSync(glb, join(project, "characters", `${name}.glb`));
  const target = (concurrent: number) => ({
    executor: "slurm",
    workdir: join(temp.dir, "cluster"),
    maxShards: 4,
    maxConcurrent: concurrent,
    cpusPerTask: 1,
    storage: { type: "s3", endpoint: s3.endpoint, bucket: "bench", prefix: `c${concurrent}/` },
  });
  writeFileSync(
    join(project, "posefactory.yaml"),
    `${JSON.stringify({
      clips: ["Walk", "Wave"],
      frames: { step: 20 },
      cameras: { azimuthsDeg: [0, 90, 180, 270], elevationsDeg: [10] },
      render: { samples: 4, resolution: [96, 96] },
      detect: { enabled: false },
      target: "one",
      targets: { one: target(1), two: target(2) },
    })}\n`,
  );
  const env = cleanEnv(
    { POSEFACTORY_S3_ACCESS_KEY_ID: "S3RVER", POSEFACTORY_S3_SECRET_ACCESS_KEY: "S3RVER" },
    temp.home,
  );
  const time = async (name: string): Promise<number> => {
    const t = performance.now();
    const r = await runCli(["-q", "pipeline", "--force", "--target", name], { cwd: project, env });
    if (r.code !== 0) throw new Error(`pipeline on ${name} failed: ${r.stderr}`);
    return (performance.now() - t) / 1000;
  };
  const rounds = Number(process.env.PF_BENCH_ROUNDS ?? 3);
  const one: number[] = [];
  const two: number[] = [];
  for (let i = 0; i < rounds; i++) {
    one.push(await time("one"));
    two.push(await time("two"));
  }
  const range = (xs: number[]) => `${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)} s`;
  console.log(
    `2 characters x 2 clips = 4 shards, 4 cameras, 96 px; node ${cluster.node}, ${cluster.gpus} fake GPUs, 2 CPU cores`,
  );
  console.log(
    `1 task at a time (one GPU):  ${range(one)}  (${one.map((x) => x.toFixed(1)).join(", ")})`,
  );
  console.log(
    `2 tasks at a time (two GPUs): ${range(two)}  (${two.map((x) => x.toFixed(1)).join(", ")})`,
  );
  const ratios = one.map((x, i) => x / (two[i] ?? Number.NaN));
  console.log(
    `speed-up of two over one: ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}x (per round: ${ratios.map((r) => r.toFixed(2)).join(", ")})`,
  );
} finally {
  await s3.stop();
  temp.cleanup();
}
