/** Slurm's text outputs, as captured from Debian's 22.05.8 (test/fixtures/slurm/). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { mergeTaskRows } from "../../src/slurm/client.js";
import {
  buildSbatchArgs,
  formatIndexList,
  parseClusterConfig,
  parseIndexList,
  parseSacct,
  parseScontrolJobs,
  parseSlurmDuration,
  parseSqueue,
  parseTimeLimit,
  phaseOf,
  planArrayChunks,
  signalLeadFor,
} from "../../src/slurm/index.js";

const fixture = (name: string): string =>
  readFileSync(join(import.meta.dirname, "..", "fixtures", "slurm", name), "utf8");

describe("array index lists", () => {
  it("formats and parses ranges", () => {
    expect(formatIndexList([8, 7, 0, 1, 2, 5, 2])).toBe("0-2,5,7-8");
    expect(formatIndexList([3])).toBe("3");
    expect(parseIndexList("0-2,5,7-8%2")).toEqual([0, 1, 2, 5, 7, 8]);
    expect(parseIndexList("1-7:3")).toEqual([1, 4, 7]);
    expect(() => parseIndexList("a-b")).toThrow(/index list/);
  });

  it("chunks by MaxArraySize with an index offset", () => {
    expect(planArrayChunks([0, 1, 2], 1001, 2)).toEqual([
      { offset: 0, shards: [0, 1, 2], spec: "0-2%2" },
    ]);
    expect(planArrayChunks([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 4)).toEqual([
      { offset: 0, shards: [0, 1, 2, 3], spec: "0-3" },
      { offset: 4, shards: [4, 5, 6, 7], spec: "0-3" },
      { offset: 8, shards: [8, 9], spec: "0-1" },
    ]);
    // Resubmitting failed shards 2 and 7 of a run: sparse lists stay sparse.
    expect(planArrayChunks([7, 2], 1001)).toEqual([{ offset: 0, shards: [2, 7], spec: "2,7" }]);
    expect(planArrayChunks([2, 9], 8)).toEqual([
      { offset: 0, shards: [2], spec: "2" },
      { offset: 8, shards: [9], spec: "1" },
    ]);
  });
});

describe("sbatch command line", () => {
  it("has every flag explicit and nothing from the environment", () => {
    const args = buildSbatchArgs({
      jobName: "pf-r1",
      array: "0-3%2",
      script: "/shared/runs/r1/.pf-slurm-task.sh",
      scriptArgs: ["0"],
      chdir: "/shared/runs/r1",
      output: "/shared/runs/r1/logs/slurm-%A_%a.log",
      partition: "gpu",
      account: "lab",
      qos: "normal",
      gpusPerTask: 1,
      cpusPerTask: 8,
      memPerTask: "32G",
      timeLimit: "02:00:00",
      signalLeadSeconds: signalLeadFor("02:00:00"),
      extraArgs: ["--constraint=a100"],
    });
    expect(args).toEqual([
      "--parsable",
      "--job-name=pf-r1",
      "--array=0-3%2",
      "--chdir=/shared/runs/r1",
      "--output=/shared/runs/r1/logs/slurm-%A_%a.log",
      "--error=/shared/runs/r1/logs/slurm-%A_%a.log",
      "--export=NONE",
      "--no-requeue",
      "--partition=gpu",
      "--account=lab",
      "--qos=normal",
      "--gres=gpu:1",
      "--cpus-per-task=8",
      "--mem=32G",
      "--time=02:00:00",
      "--signal=B:USR1@120",
      "--constraint=a100",
      "/shared/runs/r1/.pf-slurm-task.sh",
      "0",
    ]);
  });

  it("reads Slurm's time formats", () => {
    expect(parseTimeLimit("1")).toBe(60);
    expect(parseTimeLimit("1:30")).toBe(90);
    expect(parseTimeLimit("02:00:00")).toBe(7200);
    expect(parseTimeLimit("1-12")).toBe(129600);
    expect(parseTimeLimit("soon")).toBeUndefined();
    expect(signalLeadFor("1")).toBe(15);
    expect(signalLeadFor(undefined)).toBeUndefined();
    expect(parseSlurmDuration("1-02:03:04")).toBe(93784);
    expect(parseSlurmDuration("0:02")).toBe(2);
    expect(parseSlurmDuration("INVALID")).toBeNull();
  });
});

describe("cluster config", () => {
  it("reads MaxArraySize, accounting and MinJobAge", () => {
    expect(parseClusterConfig(fixture("scontrol-config.txt"))).toEqual({
      maxArraySize: 8,
      accounting: true,
      minJobAgeSeconds: 3600,
      version: "22.05.8",
    });
    expect(() => parseClusterConfig("nothing here")).toThrow(/MaxArraySize/);
  });
});

describe("task states", () => {
  it("reads squeue while tasks wait and run", () => {
    const rows = parseSqueue(fixture("squeue-pending.txt"));
    expect(rows.map((r) => [r.taskId, r.state, r.node, phaseOf(r.state)])).toEqual([
      [1, "PENDING", null, "running"],
      [2, "PENDING", null, "running"],
      [3, "PENDING", null, "running"],
      [0, "RUNNING", "vm", "running"],
    ]);
    expect(rows[0]?.reason).toBe("JobArrayTaskLimit");
  });

  it("expands sacct's folded pending row", () => {
    const rows = parseSacct(fixture("sacct-pending.txt"));
    expect(rows.map((r) => [r.jobId, r.taskId, r.state])).toEqual([
      ["9", 0, "RUNNING"],
      ["9", 1, "PENDING"],
      ["9", 2, "PENDING"],
      ["9", 3, "PENDING"],
    ]);
  });

  it("gets the same ended tasks from squeue+scontrol (no accounting) and from sacct", () => {
    const live = mergeTaskRows(
      parseSqueue(fixture("squeue-ended.txt")),
      parseScontrolJobs(fixture("scontrol-ended.txt")),
      [],
    );
    const accounted = mergeTaskRows([], [], parseSacct(fixture("sacct-ended.txt")));
    const view = (rows: typeof live) =>
      rows.map((r) => [r.taskId, r.state, phaseOf(r.state), r.exitCode, r.node]);
    const expected = [
      [0, "COMPLETED", "done", 0, "vm"],
      [1, "COMPLETED", "done", 0, "vm"],
      [2, "FAILED", "failed", 3, "vm"],
      [3, "CANCELLED", "failed", 0, "vm"],
      [4, "COMPLETED", "done", 0, "vm"],
      [5, "COMPLETED", "done", 0, "vm"],
    ];
    expect(view(live)).toEqual(expected);
    expect(view(accounted)).toEqual(expected);
    // The cancel's signal shows only in scontrol's `0:15`.
    expect(live.find((r) => r.taskId === 3)?.exitSignal).toBe(15);
    expect(accounted.find((r) => r.taskId === 2)?.seconds).toBe(2);
  });

  it("maps every end state to failed with its name", () => {
    for (const s of ["PENDING", "CONFIGURING", "RUNNING", "COMPLETING"])
      expect(phaseOf(s)).toBe("running");
    expect(phaseOf("COMPLETED")).toBe("done");
    for (const s of [
      "FAILED",
      "TIMEOUT",
      "OUT_OF_MEMORY",
      "NODE_FAIL",
      "PREEMPTED",
      "CANCELLED by 0",
      "BOOT_FAIL",
      "DEADLINE",
    ])
      expect(phaseOf(s)).toBe("failed");
  });
});
