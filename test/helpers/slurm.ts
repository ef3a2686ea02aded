/**
 * The one-node Slurm cluster for tests (test/cluster/slurm-cluster.sh): checks that it is up,
 * starts it when it is not (the script is idempotent), and reads what tests need to know
 * about it. CI starts it before the tests and stops it after them.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export const CLUSTER_SCRIPT = fileURLToPath(
  new URL("../cluster/slurm-cluster.sh", import.meta.url),
);

export interface SlurmCluster {
  /** slurmdbd runs: sacct answers. */
  accounting: boolean;
  maxArraySize: number;
  /** GPUs (GRES gpu) on the one node. */
  gpus: number;
  node: string;
  /** slurmctld's StateSaveLocation (where it keeps job scripts and environments). */
  stateDir: string;
}

function isUp(): boolean {
  return spawnSync("bash", [CLUSTER_SCRIPT, "status"], { stdio: "ignore" }).status === 0;
}

let cached: SlurmCluster | undefined;

/** The running cluster, started first when it is down. Throws with the script's output otherwise. */
export function requireSlurmCluster(): SlurmCluster {
  if (cached && isUp()) return cached;
  if (!isUp()) {
    const up = spawnSync("bash", [CLUSTER_SCRIPT, "up"], { encoding: "utf8" });
    if (up.status !== 0 || !isUp()) {
      throw new Error(
        `The test Slurm cluster is not up and did not start (bash ${CLUSTER_SCRIPT} up):\n${up.stdout}${up.stderr}`,
      );
    }
  }
  const config = execFileSync("scontrol", ["show", "config"], { encoding: "utf8" });
  const field = (name: string): string =>
    new RegExp(`^${name}\\s*=\\s*(\\S+)`, "m").exec(config)?.[1] ?? "";
  const node = execFileSync("sinfo", ["-h", "-N", "-o", "%N"], { encoding: "utf8" }).trim();
  const gres = execFileSync("sinfo", ["-h", "-N", "-o", "%G"], { encoding: "utf8" }).trim();
  cached = {
    accounting: field("AccountingStorageType") === "accounting_storage/slurmdbd",
    maxArraySize: Number(field("MaxArraySize")),
    gpus: Number(/gpu:(\d+)/.exec(gres)?.[1] ?? 0),
    node,
    stateDir: field("StateSaveLocation"),
  };
  return cached;
}

/** Job ids (array tasks expanded) that are still pending or running and whose name starts so. */
export function liveJobs(namePrefix: string): string[] {
  const out = execFileSync(
    "squeue",
    ["-h", "-r", "-t", "PENDING,RUNNING,CONFIGURING,COMPLETING,SUSPENDED", "-o", "%i|%j"],
    { encoding: "utf8" },
  );
  return out
    .split("\n")
    .filter((line) => line.includes("|"))
    .filter((line) => line.slice(line.indexOf("|") + 1).startsWith(namePrefix))
    .map((line) => line.slice(0, line.indexOf("|")));
}

/** scancel every job whose working directory is under `dir`: what a failed test left behind. */
export function cancelJobsUnder(dir: string): void {
  const out = execFileSync("squeue", ["-h", "-o", "%F|%Z"], { encoding: "utf8" });
  const ids = new Set<string>();
  for (const line of out.split("\n")) {
    const [id, workdir] = line.split("|");
    if (id && workdir && (workdir === dir || workdir.startsWith(`${dir}/`))) ids.add(id.trim());
  }
  if (ids.size > 0) execFileSync("scancel", ["--quiet", ...ids]);
}
