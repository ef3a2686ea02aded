/** The slurm target's keys: defaults, and clear errors for values sbatch would refuse. */
import { describe, expect, it } from "vitest";
import { slurmTargetSchema } from "../../src/config/schema.js";

const storage = { type: "s3", bucket: "bucket" };

describe("slurm target", () => {
  it("has the contract's keys with their defaults", () => {
    const t = slurmTargetSchema.parse({ executor: "slurm", workdir: "/shared/pf", storage });
    expect(t).toMatchObject({
      gpusPerTask: 1,
      maxShards: 16,
      sbatchArgs: [],
      setup: [],
      blender: "blender",
      python: "python3",
    });
    expect(t.ssh).toBeUndefined();
    const withSsh = slurmTargetSchema.parse({
      executor: "slurm",
      workdir: "/shared/pf",
      ssh: { host: "login", port: 2222, user: "me", identityFile: "~/.ssh/k" },
      partition: "gpu",
      account: "lab",
      qos: "normal",
      cpusPerTask: 8,
      memPerTask: "32G",
      timeLimit: "02:00:00",
      maxConcurrent: 4,
      storage,
    });
    expect(withSsh.ssh).toEqual({
      host: "login",
      port: 2222,
      user: "me",
      identityFile: "~/.ssh/k",
      hostKey: "accept-new",
    });
  });

  it("rejects values sbatch would refuse, saying what is expected", () => {
    const bad = (extra: object) =>
      slurmTargetSchema.safeParse({ executor: "slurm", workdir: "/w", storage, ...extra });
    expect(bad({ timeLimit: "two hours" }).error?.message).toMatch(/Slurm time/);
    expect(bad({ memPerTask: "lots" }).error?.message).toMatch(/memory like 16G/);
    expect(bad({ maxShards: 0 }).success).toBe(false);
    expect(bad({ ssh: { port: 22 } }).success).toBe(false);
    expect(bad({ gpus: 2 }).success).toBe(false);
  });
});
