/**
 * The whole `posefactory pipeline` (detection off, so both sides do the same work) vs the
 * user's old alias chain doing the same render against the same local servers:
 *   rclone copy characters/ + blender/ up; ssh pod 'rclone copy down; blender ...; rclone copy up';
 *   rclone copy the results down.
 * posefactory runs as a user runs it: the bundled CLI (`npm run build`) as a process, without
 * this machine's NODE_EXTRA_CA_CERTS (helpers/cli.ts withoutExtraCa; its cost is printed). Rounds
 * alternate the two, each on a fresh project prefix and pod folder (everything is new to
 * upload). The pod's probe cache (blender/host/lib.sh pf_probe) starts empty, so round 1 is
 * a pod posefactory never saw and the later rounds one it has (a user's second run).
 * Then a no-change re-run of the pipeline. Prints each round, the medians and the ratio. Last,
 * the plan of a run with large characters: again (through the hash cache) vs the first (it
 * hashes them).
 * Goal: pipeline <= 1.0x the alias chain.
 *
 * Both sides start Blender through the same small wrapper that records when Blender ran, so
 * each round also prints its overhead: the whole time minus Blender's. On shared cores the
 * render's own time varies by more than the overhead between runs; the overheads' ratio is
 * the steadier figure.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { configSchema } from "../../src/config/schema.js";
import { buildJob, listCharacterFiles } from "../../src/render/job.js";
import { blenderScriptCommand } from "../../src/render/launcher.js";
import { BLENDER_DIR } from "../../src/render/sample.js";
import { getSampleCharacters } from "../helpers/blender.js";
import { buildCli } from "../helpers/build.js";
import { BIN, cleanEnv, extraCaSeconds, makeTempDir, withoutExtraCa } from "../helpers/cli.js";
import { startS3rver } from "../helpers/s3rver.js";
import { opensshArgs, startSshd } from "../helpers/sshd.js";

// Five by default: round 1 meets a new pod (its preflight starts Blender once), so of three
// rounds the median was the slower of the other two, and a render's noise (+-0.1 s) decided it.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const run = promisify(execFile);

// The CLI measured is the current source, bundled as `npm run build` makes it.
buildCli();

const temp = makeTempDir("pf-bench-pipeline-");
const probeCache = join(temp.dir, "pod-cache");
const blenderTimes = join(temp.dir, "blender-times.txt");
const [s3, sshd] = await Promise.all([
  startS3rver({ buckets: ["bench"] }),
  startSshd({ setEnv: { POSEFACTORY_CACHE_DIR: probeCache, BLENDER_TIMES: blenderTimes } }),
]);

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await work();
  return (performance.now() - t0) / 1000;
}

try {
  const settings = {
    frames: { step: 20 },
    cameras: { azimuthsDeg: [0, 45, 90, 135, 180, 225, 270, 315], elevationsDeg: [10] },
    render: { samples: 4, resolution: [192, 192] },
    detect: { enabled: false },
  };
  const walker = (await getSampleCharacters()).fbx;
  // As on a user's machine: without this machine's NODE_EXTRA_CA_CERTS (withoutExtraCa).
  const env = withoutExtraCa(
    cleanEnv(
      { POSEFACTORY_S3_ACCESS_KEY_ID: "S3RVER", POSEFACTORY_S3_SECRET_ACCESS_KEY: "S3RVER" },
      temp.home,
    ),
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
  const sshArgs = opensshArgs(sshd, join(temp.dir, "kh"));
  const config = configSchema.parse(settings);
  // Blender for both sides: appends "<start> <end>" (seconds) of each render to $BLENDER_TIMES.
  const blender = join(temp.dir, "timed-blender");
  writeFileSync(
    blender,
    [
      "#!/bin/bash",
      'case "$1" in --version) exec blender "$@" ;; esac',
      "t0=$(date +%s.%N)",
      'blender "$@"',
      "rc=$?",
      'echo "$t0 $(date +%s.%N)" >>"$BLENDER_TIMES"',
      'exit "$rc"',
      "",
    ].join("\n"),
  );
  chmodSync(blender, 0o755);
  writeFileSync(blenderTimes, "");
  /** Seconds Blender ran in the last render recorded. */
  const lastBlenderSeconds = (): number => {
    const [start, end] = readFileSync(blenderTimes, "utf8").trim().split("\n").at(-1)!.split(" ");
    return Number(end) - Number(start);
  };

  const oldChain = async (round: number) => {
    const key = `old-${round}`;
    const pod = join(temp.dir, "pod", key);
    const characters = (await listCharacterFiles(join(temp.dir, "characters"))).map((c) => ({
      ...c,
      file: join(pod, "inputs", "walker.fbx"),
    }));
    const job = buildJob(config, { runId: key, characters, outDir: join(pod, "out") });
    writeFileSync(join(temp.dir, `${key}.json`), JSON.stringify(job));
    const podScript = [
      exportLines,
      `mkdir -p ${pod}/inputs ${pod}/out`,
      `rclone copy r2:bench/${key}/inputs ${pod}/inputs`,
      `cp ${temp.dir}/${key}.json ${pod}/job.json`,
      `${blenderScriptCommand(blender, `${pod}/inputs/blender/render.py`, ["--job", `${pod}/job.json`])} > ${pod}/blender.log 2>&1`,
      `rclone copy ${pod}/out r2:bench/${key}/out`,
    ].join(" && ");
    const seconds = await timed(async () => {
      const up = { env: rcloneEnv };
      await run("rclone", ["copy", join(temp.dir, "characters"), `r2:bench/${key}/inputs`], up);
      // The same files posefactory sends: not the __pycache__ folders a local Python left.
      const scripts = [
        BLENDER_DIR,
        `r2:bench/${key}/inputs/blender`,
        "--exclude",
        "__pycache__/**",
      ];
      await run("rclone", ["copy", ...scripts], up);
      await run("ssh", [...sshArgs, podScript], { env: rcloneEnv, maxBuffer: 64 << 20 });
      await run("rclone", ["copy", `r2:bench/${key}/out`, join(temp.dir, `${key}-download`)], up);
    });
    return { seconds, blender: lastBlenderSeconds() };
  };

  const makeProject = (round: number): string => {
    const project = join(temp.dir, `project-${round}`);
    mkdirSync(join(project, "characters"), { recursive: true });
    copyFileSync(walker, join(project, "characters", "walker.fbx"));
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
            blender,
            workdir: join(temp.dir, "pod", `pf-${round}`),
            storage: { type: "s3", endpoint: s3.endpoint, bucket: "bench", prefix: `pf-${round}/` },
          },
        },
      })}\n`,
    );
    return project;
  };
  const pipeline = async (project: string) => {
    const before = readFileSync(blenderTimes, "utf8");
    const seconds = await timed(() =>
      run(process.execPath, [BIN, "-q", "pipeline"], { cwd: project, env }),
    );
    const rendered = readFileSync(blenderTimes, "utf8") !== before;
    return { seconds, blender: rendered ? lastBlenderSeconds() : 0 };
  };

  mkdirSync(join(temp.dir, "characters"));
  copyFileSync(walker, join(temp.dir, "characters", "walker.fbx"));
  type Timing = { seconds: number; blender: number };
  const old: Timing[] = [];
  const ours: Timing[] = [];
  const again: number[] = [];
  const overhead = (t: Timing) => t.seconds - t.blender;
  for (let round = 1; round <= ROUNDS; round++) {
    // Alternate who goes first, so neither always runs on a warmer machine.
    const project = makeProject(round);
    if (round % 2 === 1) {
      old.push(await oldChain(round));
      ours.push(await pipeline(project));
    } else {
      ours.push(await pipeline(project));
      old.push(await oldChain(round));
    }
    again.push((await pipeline(project)).seconds);
    const [o, p] = [old.at(-1)!, ours.at(-1)!];
    console.log(
      `round ${round}${round === 1 ? " (new pod: probe cache empty)" : ""}: alias chain ${o.seconds.toFixed(2)} s, pipeline ${p.seconds.toFixed(2)} s (${(p.seconds / o.seconds).toFixed(2)}x); without Blender's ${o.blender.toFixed(2)} / ${p.blender.toFixed(2)} s: ${overhead(o).toFixed(2)} / ${overhead(p).toFixed(2)} s (${(overhead(p) / overhead(o)).toFixed(2)}x); no-change re-run ${again.at(-1)!.toFixed(2)} s`,
    );
  }
  const total = (list: Timing[]) => median(list.map((t) => t.seconds));
  const ratio = total(ours) / total(old);
  const fixed = (list: Timing[]) => median(list.map(overhead));
  const fixedRatio = fixed(ours) / fixed(old);
  console.log(
    `sample walker, 8 cameras x 3 frames at 192x192, 4 samples; bundled CLI as a process; ${ROUNDS} rounds`,
  );
  console.log(
    `old alias chain (rclone up; ssh blender; rclone down): median ${total(old).toFixed(2)} s, without Blender ${fixed(old).toFixed(2)} s`,
  );
  console.log(
    `posefactory pipeline:                                  median ${total(ours).toFixed(2)} s  (ratio ${ratio.toFixed(2)}x of the old chain; goal <= 1.00 ${ratio <= 1 ? "met" : "MISSED"})`,
  );
  console.log(
    `posefactory pipeline without Blender (its overhead):   median ${fixed(ours).toFixed(2)} s  (ratio ${fixedRatio.toFixed(2)}x of the old chain's)`,
  );
  console.log(
    `posefactory pipeline, nothing changed:                 median ${median(again).toFixed(2)} s  (ratio ${(median(again) / total(old)).toFixed(3)}x)`,
  );
  const extraCa = extraCaSeconds();
  if (extraCa !== undefined)
    console.log(
      `the CLI ran without this machine's NODE_EXTRA_CA_CERTS (not a user's), which adds ${(extraCa * 1000).toFixed(0)} ms to a node start: with it the ratio would be ${((total(ours) + extraCa) / total(old)).toFixed(2)}x`,
    );

  // Real characters run to hundreds of megabytes, and a run's plan needs each one's sha256
  // (its render key). Anchor: the first plan, which hashes them, as every run's plan did
  // before it hashed through the project's hash cache.
  const big = makeProject(ROUNDS + 1);
  const [count, megabytes] = [4, 64];
  for (let i = 0; i < count; i++)
    writeFileSync(join(big, "characters", `big-${i}.fbx`), randomBytes(megabytes << 20));
  const dryRun = () =>
    timed(() => run(process.execPath, [BIN, "-q", "pipeline", "--dry-run"], { cwd: big, env }));
  const first = await dryRun();
  const later: number[] = [];
  for (let i = 0; i < 3; i++) later.push(await dryRun());
  console.log(
    `plan of a run with ${count} x ${megabytes} MB characters (pipeline --dry-run): first ${first.toFixed(2)} s (hashes them), again median ${median(later).toFixed(2)} s (ratio ${(median(later) / first).toFixed(2)}x)`,
  );
} finally {
  await Promise.all([s3.stop(), sshd.stop()]);
  temp.cleanup();
}
