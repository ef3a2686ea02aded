/** The test cluster itself: one node, two fake GPUs, job arrays that get one GPU each. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { liveJobs, requireSlurmCluster } from "../helpers/slurm.js";

const dir = mkdtempSync(join(tmpdir(), "pf-slurm-cluster-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function waitUntil(condition: () => boolean, seconds = 900): Promise<void> {
  for (let i = 0; i < seconds * 4; i++) {
    if (condition()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error("timed out waiting on the cluster");
}

describe("the one-node test cluster", () => {
  it("is up with two GPUs and a small MaxArraySize", () => {
    const cluster = requireSlurmCluster();
    expect(cluster.gpus).toBe(2);
    expect(cluster.maxArraySize).toBeGreaterThan(1);
    expect(cluster.node.length).toBeGreaterThan(0);
  });

  it("runs an array whose tasks each get their own GPU", { timeout: 960_000 }, async () => {
    requireSlurmCluster();
    const script = join(dir, "task.sh");
    writeFileSync(
      script,
      '#!/bin/bash\necho "task=$SLURM_ARRAY_TASK_ID gpu=$CUDA_VISIBLE_DEVICES"\nsleep 1\n',
    );
    const jobId = execFileSync(
      "sbatch",
      [
        "--parsable",
        `--job-name=pf-cluster-${process.pid}`,
        "--array=0-1",
        "--gres=gpu:1",
        `--output=${join(dir, "%A_%a.log")}`,
        script,
      ],
      { encoding: "utf8" },
    ).trim();
    expect(jobId).toMatch(/^\d+$/);
    await waitUntil(() => liveJobs(`pf-cluster-${process.pid}`).length === 0);
    const lines = [0, 1].map((i) => readFileSync(join(dir, `${jobId}_${i}.log`), "utf8").trim());
    expect(lines[0]).toMatch(/^task=0 gpu=[01]$/);
    expect(lines[1]).toMatch(/^task=1 gpu=[01]$/);
  });
});
