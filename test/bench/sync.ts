/**
 * posefactory upload vs `rclone copy` on the same s3rver and the same files (300 of 1-50 KB
 * plus 2 x 60 MB): the first upload, then runs with nothing changed (BENCH_NO_CHANGE_RUNS per
 * round, default 3). With nothing changed the CLI sends one ListObjectsV2 per input folder and
 * never loads the AWS SDK; rclone lists each folder and HEADs every object.
 * posefactory is measured twice: the CLI as a process (package.json's bin, dist/cli.cjs: what a
 * user runs, bundled as `npm run build` makes it, its V8 code cache in a fresh cache folder that
 * the first upload fills; it also syncs the small blender/ folder) and the sync engine in-process
 * (uploadDir). Start-up: `--version` of the bin, of the bin without its code cache
 * (POSEFACTORY_CODE_CACHE=0), and of tsc's plain dist/cli.js (the anchor), interleaved.
 * rclone runs with --transfers 8 (posefactory's default concurrency), AWS_CA_BUNDLE removed,
 * and its remote configured only through RCLONE_CONFIG_* variables.
 * The CLI runs without this machine's NODE_EXTRA_CA_CERTS, as on a user's machine
 * (withoutExtraCa); its no-change runs with it are printed too.
 * Goals: no-change run <= 0.5x rclone's; first upload <= 1.0x rclone's.
 * Then downloads: BENCH_DOWNLOAD_FILES (default 300) small files of a run and its
 * sha256sums.txt, pushed with rclone as a render host does, into an empty folder by
 * `posefactory download` (a process, which also checks the sums) and by `rclone copy`,
 * BENCH_DOWNLOAD_RUNS times (default 3) interleaved; the ratio is printed (no goal set).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { uploadDir } from "../../src/storage/sync.js";
import { buildCli } from "../helpers/build.js";
import { BIN, extraCaSeconds, withoutExtraCa } from "../helpers/cli.js";
import { startS3rver } from "../helpers/s3rver.js";
import { s3StorageFor, writeTree } from "../helpers/storage.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const NO_CHANGE_RUNS = Number(process.env.BENCH_NO_CHANGE_RUNS ?? 3);
const DOWNLOAD_FILES = Number(process.env.BENCH_DOWNLOAD_FILES ?? 300);
const DOWNLOAD_RUNS = Number(process.env.BENCH_DOWNLOAD_RUNS ?? 3);

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd = ROOT): number {
  const start = process.hrtime.bigint();
  const result = spawnSync(cmd, args, { env, cwd, encoding: "utf8", maxBuffer: 64 << 20 });
  const elapsed = seconds(start);
  if (result.status !== 0)
    throw new Error(`${cmd} ${args.join(" ")} failed (${result.status}):\n${result.stderr}`);
  return elapsed;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

// Build dist/ so the CLI measured is the current source, bundled as `npm run build` does.
buildCli();
// The anchor for start-up: the same CLI as tsc's plain output, unbundled.
const UNBUNDLED = join(ROOT, "dist", "cli.js");

const work = mkdtempSync(join(tmpdir(), "pf-bench-sync-"));
const server = await startS3rver({ buckets: ["bench"] });
try {
  const project = join(work, "project");
  const characters = join(project, "characters");
  mkdirSync(characters, { recursive: true });
  writeTree(characters, { count: 300, big: 2, bigBytes: 60 * 1024 * 1024 });

  const baseEnv = { ...process.env };
  delete baseEnv.AWS_CA_BUNDLE;
  const rcloneEnv = {
    ...baseEnv,
    RCLONE_CONFIG_BENCH_TYPE: "s3",
    RCLONE_CONFIG_BENCH_PROVIDER: "Other",
    RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: "S3RVER",
    RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: "S3RVER",
    RCLONE_CONFIG_BENCH_ENDPOINT: server.endpoint,
    RCLONE_CONFIG_BENCH_REGION: "auto",
    RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE: "true",
    RCLONE_CONFIG_BENCH_NO_CHECK_BUCKET: "true",
    RCLONE_CONFIG: "/dev/null",
  };
  const cliEnv = {
    ...withoutExtraCa(baseEnv),
    // The bin's code cache starts empty: the first upload writes it, as a user's first run.
    POSEFACTORY_CACHE_DIR: join(work, "cache"),
    POSEFACTORY_S3_ACCESS_KEY_ID: "S3RVER",
    POSEFACTORY_S3_SECRET_ACCESS_KEY: "S3RVER",
    NO_COLOR: "1",
  };

  const times = { rclone: [[], []], cli: [[], []], engine: [[], []] } as Record<
    string,
    [number[], number[]]
  >;
  // The CLI in this machine's own environment too, when that differs (see withoutExtraCa).
  const asIsEnv = { ...cliEnv, NODE_EXTRA_CA_CERTS: baseEnv.NODE_EXTRA_CA_CERTS };
  const asIs: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Fresh prefixes and fresh local state each round: the first run really is a first run.
    const rcloneDest = `bench:bench/rclone-${round}/`;
    const rcloneArgs = ["copy", characters, rcloneDest, "--transfers", "8", "-q"];
    times.rclone![0].push(run("rclone", rcloneArgs, rcloneEnv));

    const cliDir = join(work, `cli-${round}`);
    mkdirSync(cliDir);
    writeFileSync(
      join(cliDir, "posefactory.yaml"),
      `target: s3\ncharacters: ${characters}\ntargets:\n  s3:\n    executor: local\n    storage:\n      type: s3\n      endpoint: ${server.endpoint}\n      bucket: bench\n      prefix: cli-${round}/\n`,
    );
    const cliArgs = [BIN, "upload", "--json", "-q"];
    times.cli![0].push(run(process.execPath, cliArgs, cliEnv, cliDir));

    const engineState = join(work, `engine-state-${round}`);
    const engineRun = async () => {
      const start = process.hrtime.bigint();
      const storage = s3StorageFor(server.endpoint, {
        bucket: "bench",
        // posefactory's defaults: 16 MiB parts, multipart from 100 MiB.
        partSize: 16 * 1024 * 1024,
        multipartThreshold: 100 * 1024 * 1024,
      });
      await uploadDir(storage, characters, `engine-${round}/`, {
        stateDir: engineState,
        concurrency: 8,
      });
      storage.destroy();
      return seconds(start);
    };
    times.engine![0].push(await engineRun());

    // The no-change runs are short and noisy on a shared machine: several per round,
    // interleaved so rclone and posefactory see the same moments.
    for (let again = 0; again < NO_CHANGE_RUNS; again++) {
      times.rclone![1].push(run("rclone", rcloneArgs, rcloneEnv));
      times.cli![1].push(run(process.execPath, cliArgs, cliEnv, cliDir));
      if (baseEnv.NODE_EXTRA_CA_CERTS) asIs.push(run(process.execPath, cliArgs, asIsEnv, cliDir));
      times.engine![1].push(await engineRun());
    }
  }

  // How much of the CLI's time is process start-up (module loading) rather than syncing.
  // Interleaved, so all see the same machine: the bin, the bin without its code cache, and
  // tsc's plain output.
  const versions = { bundled: [] as number[], noCache: [] as number[], unbundled: [] as number[] };
  const noCacheEnv = { ...cliEnv, POSEFACTORY_CODE_CACHE: "0" };
  for (let i = 0; i < 7; i++) {
    versions.bundled.push(run(process.execPath, [BIN, "--version"], cliEnv));
    versions.noCache.push(run(process.execPath, [BIN, "--version"], noCacheEnv));
    versions.unbundled.push(run(process.execPath, [UNBUNDLED, "--version"], cliEnv));
  }
  const startup = median(versions.bundled);
  const noCache = median(versions.noCache);
  const unbundled = median(versions.unbundled);
  const sdkLoad = median(
    [0, 1, 2].map(() => run(process.execPath, ["-e", 'import("@aws-sdk/client-s3")'], cliEnv)),
  );
  const bare = median([0, 1, 2].map(() => run(process.execPath, ["-e", "0"], cliEnv)));
  console.log(
    `start-up: node alone ${bare.toFixed(3)} s, node + AWS SDK ${sdkLoad.toFixed(3)} s, posefactory --version ${startup.toFixed(3)} s bundled (goal <= 0.2 s: ${startup <= 0.2 ? "met" : "MISSED"}; ${noCache.toFixed(3)} s without its code cache) vs ${unbundled.toFixed(3)} s unbundled (anchor), ratio ${(startup / unbundled).toFixed(2)}`,
  );
  const fmt = (s: number) => `${s.toFixed(3)} s`;
  const r = { first: median(times.rclone![0]), again: median(times.rclone![1]) };
  console.log(
    `300 files of 1-50 KB + 2 x 60 MB on s3rver, ${ROUNDS} rounds (${NO_CHANGE_RUNS} no-change runs each), medians (all runs in brackets)`,
  );
  for (const [name, [first, again]] of Object.entries(times)) {
    console.log(
      `${name.padEnd(7)} first upload ${fmt(median(first))} [${first.map((x) => x.toFixed(2)).join(", ")}]   no-change ${fmt(median(again))} [${again.map((x) => x.toFixed(2)).join(", ")}]`,
    );
  }
  // The CLI's own start-up (every command module it imports) is not sync work: show it apart.
  times["cli - start-up"] = [
    times.cli![0].map((t) => Math.max(0, t - startup)),
    times.cli![1].map((t) => Math.max(0, t - startup)),
  ];
  for (const name of ["cli", "cli - start-up", "engine"]) {
    const [first, again] = times[name]!;
    const f = median(first) / r.first;
    const a = median(again) / r.again;
    console.log(
      `ratio ${name}/rclone: first upload ${f.toFixed(2)} (goal <= 1.00 ${f <= 1 ? "met" : "MISSED"}), no-change ${a.toFixed(2)} (goal <= 0.50 ${a <= 0.5 ? "met" : "MISSED"})`,
    );
  }
  if (asIs.length > 0) {
    console.log(
      `this machine's NODE_EXTRA_CA_CERTS (not a user's: see withoutExtraCa) adds ${((extraCaSeconds() ?? 0) * 1000).toFixed(0)} ms to every node start: with it, the CLI's no-change run is ${fmt(median(asIs))} [${asIs.map((x) => x.toFixed(2)).join(", ")}], ratio ${(median(asIs) / r.again).toFixed(2)}`,
    );
  }

  // Downloads: a run's folder of small files (what a render host pushes with rclone, so no
  // sha256 metadata), fetched into an empty folder by `posefactory download` as a process and
  // by `rclone copy`, interleaved.
  const runId = "20261201-120000-abcdef";
  const runFiles = join(work, "run-files");
  const written = writeTree(runFiles, { count: DOWNLOAD_FILES });
  // The host's sha256sums.txt, which posefactory checks the download against.
  writeFileSync(
    join(runFiles, "sha256sums.txt"),
    written
      .map(
        (rel) =>
          `${createHash("sha256")
            .update(readFileSync(join(runFiles, rel)))
            .digest("hex")}  ${rel}\n`,
      )
      .join(""),
  );
  run(
    "rclone",
    ["copy", runFiles, `bench:bench/dl/runs/${runId}/`, "--transfers", "8", "-q"],
    rcloneEnv,
  );
  const dlDir = join(work, "dl");
  mkdirSync(dlDir);
  writeFileSync(
    join(dlDir, "posefactory.yaml"),
    `target: s3\ntargets:\n  s3:\n    executor: local\n    storage:\n      type: s3\n      endpoint: ${server.endpoint}\n      bucket: bench\n      prefix: dl/\n`,
  );
  const downloads = { cli: [] as number[], rclone: [] as number[] };
  for (let i = 0; i < DOWNLOAD_RUNS; i++) {
    rmSync(join(dlDir, "data"), { recursive: true, force: true });
    const cliArgs = [BIN, "download", runId, "--json", "-q"];
    downloads.cli.push(run(process.execPath, cliArgs, cliEnv, dlDir));
    const rcloneTarget = join(work, `rclone-dl-${i}`);
    const rcloneArgs = [
      "copy",
      `bench:bench/dl/runs/${runId}/`,
      rcloneTarget,
      "--transfers",
      "8",
      "-q",
    ];
    downloads.rclone.push(run("rclone", rcloneArgs, rcloneEnv));
  }
  const dl = { cli: median(downloads.cli), rclone: median(downloads.rclone) };
  console.log(
    `download, ${DOWNLOAD_FILES} small files (1-50 KB) + sha256sums.txt into an empty folder, ${DOWNLOAD_RUNS} runs, medians: posefactory download ${fmt(dl.cli)} [${downloads.cli.map((x) => x.toFixed(2)).join(", ")}], rclone copy ${fmt(dl.rclone)} [${downloads.rclone.map((x) => x.toFixed(2)).join(", ")}], ratio posefactory/rclone ${(dl.cli / dl.rclone).toFixed(2)} (cli - start-up ${(Math.max(0, dl.cli - startup) / dl.rclone).toFixed(2)})`,
  );
} finally {
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}
