/**
 * src/slurm/ against the real one-node cluster: chunked submission past MaxArraySize,
 * tracking through squeue+scontrol (no accounting) and sacct, scancel, TIMEOUT.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSilentLogger } from "../../src/log.js";
import { createLocalExecutor } from "../../src/remote/local.js";
import type { Executor } from "../../src/remote/types.js";
import {
  cancelJobs,
  findLiveJobs,
  phaseOf,
  planArrayChunks,
  queryTasks,
  readClusterInfo,
  submitArray,
  type TaskRow,
} from "../../src/slurm/index.js";
import { liveJobs, requireSlurmCluster } from "../helpers/slurm.js";

let dir: string;
// Unique per test process: other test runs may share the cluster.
const NAME = `pf-client-${process.pid}`;
let executor: Executor;

beforeAll(() => {
  requireSlurmCluster();
  dir = mkdtempSync(join(tmpdir(), "pf-slurm-client-"));
  executor = createLocalExecutor({ logger: createSilentLogger(), baseDir: dir });
});
afterAll(async () => {
  // Whatever a failed test left behind.
  for (const suffix of ["chunks", "cancel", "timeout"])
    execFileSync("scancel", ["--quiet", `--name=${NAME}-${suffix}`]);
  await executor?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function waitForEnd(jobIds: string[], accounting: boolean): Promise<TaskRow[]> {
  for (let i = 0; i < 1800; i++) {
    const rows = await queryTasks(executor, jobIds, { accounting });
    if (rows.length > 0 && rows.every((r) => phaseOf(r.state) !== "running")) return rows;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`jobs ${jobIds.join(",")} did not end`);
}

describe("slurm client", { timeout: 1_200_000 }, () => {
  it("reads the cluster's limits", async () => {
    const info = await readClusterInfo(executor);
    const cluster = requireSlurmCluster();
    expect(info.maxArraySize).toBe(cluster.maxArraySize);
    expect(info.accounting).toBe(cluster.accounting);
    expect(info.version).toMatch(/^\d+\.\d+/);
  });

  it("submits more shards than MaxArraySize in chunks, each task finding its shard", async () => {
    const info = await readClusterInfo(executor);
    const shards = Array.from({ length: info.maxArraySize + 2 }, (_, i) => i);
    const script = join(dir, "task.sh");
    writeFileSync(
      script,
      [
        "#!/bin/bash",
        "shard=$((SLURM_ARRAY_TASK_ID + $1))",
        'echo "$shard" > "shard-$shard.done"',
        '[ "$shard" = 3 ] && exit 7',
        "exit 0",
        "",
      ].join("\n"),
    );
    const chunks = planArrayChunks(shards, info.maxArraySize, 2);
    expect(chunks.length).toBe(2);
    const jobIds: string[] = [];
    for (const chunk of chunks) {
      jobIds.push(
        await submitArray(executor, {
          jobName: `${NAME}-chunks`,
          array: chunk.spec,
          script,
          scriptArgs: [String(chunk.offset)],
          chdir: dir,
          output: join(dir, "slurm-%A_%a.log"),
          cpusPerTask: 1,
          timeLimit: "5",
        }),
      );
    }
    const rows = await waitForEnd(jobIds, info.accounting);
    expect(rows).toHaveLength(shards.length);
    for (const s of shards)
      expect(readFileSync(join(dir, `shard-${s}.done`), "utf8").trim()).toBe(`${s}`);
    const shardOf = (r: TaskRow) => r.taskId + chunks[jobIds.indexOf(r.jobId)]!.offset;
    const failed = rows.filter((r) => phaseOf(r.state) === "failed");
    expect(failed.map((r) => [shardOf(r), r.state, r.exitCode])).toEqual([[3, "FAILED", 7]]);
    // Without accounting (squeue + scontrol within MinJobAge) the answer is the same.
    const live = await queryTasks(executor, jobIds, { accounting: false });
    const view = (list: TaskRow[]) => list.map((r) => [r.jobId, r.taskId, r.state, r.exitCode]);
    expect(view(live)).toEqual(view(rows));
    if (info.accounting) {
      // sacct may lag slurmctld by a few seconds: wait until it has every task.
      let accounted: TaskRow[] = [];
      for (let i = 0; i < 60; i++) {
        accounted = (await queryTasks(executor, jobIds, { accounting: true })).filter(
          (r) => r.exitCode !== null,
        );
        if (accounted.length === shards.length) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      expect(view(accounted)).toEqual(view(rows));
    }
  });

  it("cancels a whole array, pending tasks included", async () => {
    const script = join(dir, "sleep.sh");
    writeFileSync(script, "#!/bin/bash\nsleep 300\n");
    const jobId = await submitArray(executor, {
      jobName: `${NAME}-cancel`,
      array: "0-3%1",
      script,
      chdir: dir,
      output: join(dir, "cancel-%A_%a.log"),
      timeLimit: "10",
    });
    for (let i = 0; i < 2400; i++) {
      const rows = await queryTasks(executor, [jobId], { accounting: false });
      if (rows.some((r) => r.state === "RUNNING")) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(await findLiveJobs(executor, `${NAME}-cancel`)).toEqual([jobId]);
    await cancelJobs(executor, [jobId]);
    const rows = await waitForEnd([jobId], false);
    expect(rows.map((r) => r.state)).toEqual(["CANCELLED", "CANCELLED", "CANCELLED", "CANCELLED"]);
    expect(await findLiveJobs(executor, `${NAME}-cancel`)).toEqual([]);
    expect(liveJobs(`${NAME}-cancel`)).toEqual([]);
  });

  it("reports a task past its time limit as TIMEOUT", async () => {
    const script = join(dir, "long.sh");
    writeFileSync(script, "#!/bin/bash\nsleep 600\n");
    const jobId = await submitArray(executor, {
      jobName: `${NAME}-timeout`,
      array: "0",
      script,
      chdir: dir,
      output: join(dir, "timeout-%A_%a.log"),
      timeLimit: "1",
    });
    const rows = await waitForEnd([jobId], false);
    expect(rows.map((r) => [r.state, phaseOf(r.state)])).toEqual([["TIMEOUT", "failed"]]);
  });

  it("says what to check when sbatch refuses a job", async () => {
    await expect(
      submitArray(executor, {
        jobName: `${NAME}-refused`,
        array: "0",
        script: join(dir, "sleep.sh"),
        chdir: dir,
        output: join(dir, "refused-%A_%a.log"),
        partition: "no-such-partition",
      }),
    ).rejects.toThrow(/sbatch refused the job.*partition/s);
  });
});
