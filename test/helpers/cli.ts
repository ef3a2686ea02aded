/** Run posefactory in-process (main(argv)) or as the built binary, with a temp cwd and HOME. */
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import { main } from "../../src/cli.js";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** package.json's `bin` entry: what `npm install -g` and `npm link` put on a user's PATH. */
export const BIN = join(
  ROOT,
  binPathOf(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"))),
);

function binPathOf(pkg: { name: string; bin?: string | Record<string, string> }): string {
  const path = typeof pkg.bin === "string" ? pkg.bin : pkg.bin?.[pkg.name];
  if (!path) throw new Error(`package.json has no bin entry named ${pkg.name}`);
  return path;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A temp folder removed by the returned function; HOME points inside it. */
export function makeTempDir(prefix = "pf-test-"): {
  dir: string;
  home: string;
  cleanup: () => void;
} {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    home: join(dir, "home"),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * The benches' environment for the CLI as a user's machine has it: without NODE_EXTRA_CA_CERTS.
 * Machines like the CI's set it for their proxy, and Node 20 then parses that bundle at every
 * start, before any of our code runs (`node -e 0`: ~25 ms without it, ~65 ms with it here);
 * loopback servers need no CA. The benches print what it costs (extraCaSeconds).
 */
export function withoutExtraCa(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_EXTRA_CA_CERTS: _, ...rest } = env;
  return rest;
}

/** Median seconds NODE_EXTRA_CA_CERTS adds to a bare `node -e 0`; undefined when it is not set. */
export function extraCaSeconds(runs = 5): number | undefined {
  if (!process.env.NODE_EXTRA_CA_CERTS) return undefined;
  const time = (env: NodeJS.ProcessEnv) => {
    const start = process.hrtime.bigint();
    spawnSync(process.execPath, ["-e", "0"], { env });
    return Number(process.hrtime.bigint() - start) / 1e9;
  };
  const median = (values: number[]) => values.sort((a, b) => a - b)[values.length >> 1]!;
  const withCa: number[] = [];
  const without: number[] = [];
  for (let i = 0; i < runs; i++) {
    withCa.push(time(process.env));
    without.push(time(withoutExtraCa(process.env)));
  }
  return median(withCa) - median(without);
}

/** A clean environment: no inherited POSEFACTORY_* or AWS_* variables leak into tests. */
export function cleanEnv(extra: Record<string, string> = {}, home?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(POSEFACTORY_|AWS_|SSH_AUTH_SOCK$)/.test(k)) env[k] = v;
  }
  if (home) env.HOME = home;
  env.NO_COLOR = "1";
  return { ...env, ...extra };
}

export async function runCli(
  argv: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; signal?: AbortSignal },
): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (d) => (out += d));
  stderr.on("data", (d) => (err += d));
  const previousHome = process.env.HOME;
  const env = options.env ?? cleanEnv();
  // Modules that read the home folder (known hosts, ~/.ssh/config) use os.homedir().
  if (env.HOME) process.env.HOME = env.HOME;
  try {
    const code = await main(argv, {
      cwd: options.cwd,
      env,
      stdout,
      stderr,
      signal: options.signal,
    });
    return { code, stdout: out, stderr: err };
  } finally {
    if (previousHome === undefined) delete process.env.HOME;
    else process.env.HOME = previousHome;
  }
}

export function runBin(
  argv: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      [BIN, ...argv],
      {
        cwd: options.cwd,
        env: options.env ?? cleanEnv(),
        timeout: options.timeoutMs ?? 120_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolvePromise({ code, stdout, stderr });
      },
    );
  });
}

export function cleanupAll(items: { cleanup: () => void }[]): void {
  for (const item of items) item.cleanup();
}

export { rmSync };

const MODULE_LOG = fileURLToPath(new URL("./module-log.mjs", import.meta.url));

/**
 * Run the built CLI as a process with every module it loads logged (module-log.mjs): its JSON
 * summary, the URLs it loaded, and those holding AWS SDK code (the bundle keeps each package's
 * path in its module table, so SDK code says so). Fails the test when the command fails.
 */
export function runBinLoggingModules(
  argv: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; log: string },
): { summary: Record<string, number>; loaded: string[]; sdk: string[] } {
  rmSync(options.log, { force: true });
  const result = spawnSync(process.execPath, ["--import", MODULE_LOG, BIN, ...argv], {
    cwd: options.cwd,
    env: { ...options.env, PF_MODULE_LOG: options.log },
    encoding: "utf8",
  });
  if (result.status !== 0)
    throw new Error(`posefactory ${argv.join(" ")} failed (${result.status}): ${result.stderr}`);
  const loaded = readFileSync(options.log, "utf8").trim().split("\n");
  const sdk = loaded.filter(
    (url) =>
      url.startsWith("file:") &&
      readFileSync(fileURLToPath(url), "utf8").includes("node_modules/@aws-sdk/"),
  );
  return { summary: JSON.parse(result.stdout) as Record<string, number>, loaded, sdk };
}
