/**
 * No pod -> usable pod: `posefactory pod up` (catalog, create, wait for RUNNING + ssh.direct,
 * banner, authenticated command, host key pinned and cross-checked, watchdog started) against
 * the fake RunPod API, vs the anchor: the fake's own delays, a bare sshd start and one OpenSSH
 * `ssh true` (what no client can avoid). Three runs each; prints both and the ratio.
 */
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { cleanEnv, makeTempDir, runCli } from "../helpers/cli.js";
import { startFakeRunpod } from "../helpers/fake-runpod.js";
import { opensshArgs, startSshd } from "../helpers/sshd.js";

const run = promisify(execFile);
const API_KEY = "rpa_BENCH_0123456789abcdef";
const DELAYS = { provisioningMs: 200, startingMs: 200, sshAssignMs: 200, sshdDelayMs: 200 };
const delaysMs = Object.values(DELAYS).reduce((a, b) => a + b, 0);

const temp = makeTempDir("pf-bench-runpod-");
const project = join(temp.dir, "project");
mkdirSync(project, { recursive: true });
writeFileSync(
  join(project, "posefactory.yaml"),
  [
    "target: gpu",
    "targets:",
    "  gpu:",
    "    executor: runpod",
    "    lifetime: keep",
    "    setup: skip",
    `    workdir: ${join(temp.dir, "pod")}`,
    "    storage: {type: s3, endpoint: 'http://127.0.0.1:9', bucket: bench}",
    "",
  ].join("\n"),
);
const fake = await startFakeRunpod({ apiKey: API_KEY, ...DELAYS });
const env = cleanEnv({ RUNPOD_API_KEY: API_KEY, RUNPOD_API_URL: fake.url }, temp.home);
const ups: number[] = [];
const anchors: number[] = [];
try {
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const up = await runCli(["pod", "up"], { cwd: project, env });
    ups.push(performance.now() - t0);
    if (up.code !== 0) throw new Error(`pod up failed: ${up.stderr}`);
    const down = await runCli(["pod", "down"], { cwd: project, env });
    if (down.code !== 0) throw new Error(`pod down failed: ${down.stderr}`);

    const t1 = performance.now();
    await new Promise((r) => setTimeout(r, delaysMs));
    const server = await startSshd();
    await run("ssh", [...opensshArgs(server, join(temp.dir, `kh-${i}`)), "true"]);
    anchors.push(performance.now() - t1);
    await server.stop();
  }
} finally {
  await fake.stop();
  temp.cleanup();
}
const range = (xs: number[]) =>
  `${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)} ms (${xs.map((x) => x.toFixed(0)).join(", ")})`;
console.log(`runpod: no pod -> usable (pod up): ${range(ups)}`);
console.log(
  `runpod: anchor (fake delays ${delaysMs} ms + sshd start + ssh true): ${range(anchors)}`,
);
console.log(
  `runpod: pod up minus the fake's delays: ${range(ups.map((u) => u - delaysMs))}; ratio pod up/anchor = ${(ups.reduce((a, b) => a + b) / anchors.reduce((a, b) => a + b)).toFixed(2)}x`,
);
