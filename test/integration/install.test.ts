/**
 * Install as users do: `npm pack` a copy of the project's files as a checkout has them (no
 * dist/: the pack must build it, package.json's prepare), install the tarball globally into a
 * temporary prefix, and run `posefactory` from that PATH; the same copy as a git repository,
 * installed as a dependency from git (npm then runs prepare in its own clone); then the `pf_*`
 * aliases in real zsh and bash, read from the rc file as `posefactory aliases` tells users to.
 * Packed once for the file.
 */
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanEnv, makeTempDir, ROOT } from "../helpers/cli.js";

const run = promisify(execFile);
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  name: string;
  version: string;
};

const tmp = makeTempDir("pf-install-");
const source = join(tmp.dir, "source");
const prefix = join(tmp.dir, "prefix");
const bin = join(prefix, "bin");
let files: string[] = [];

/** A user's environment: the global prefix's bin first on PATH, a fresh HOME. */
function userEnv(): NodeJS.ProcessEnv {
  return cleanEnv({ PATH: `${bin}${delimiter}${process.env.PATH ?? ""}` }, tmp.home);
}

beforeAll(async () => {
  mkdirSync(tmp.home, { recursive: true });
  // The files git has (tracked, or new and not ignored), without the dist/ the tests use.
  const listed = await run(
    "git",
    ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    {
      cwd: ROOT,
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  for (const file of listed.stdout.split("\0").filter(Boolean)) {
    mkdirSync(dirname(join(source, file)), { recursive: true });
    cpSync(join(ROOT, file), join(source, file));
  }
  symlinkSync(join(ROOT, "node_modules"), join(source, "node_modules"));
  const packed = await run("npm", ["pack", "--json", "--pack-destination", tmp.dir], {
    cwd: source,
    maxBuffer: 64 * 1024 * 1024,
  });
  const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  files = info!.files.map((f) => f.path);
  // Dependencies come from npm's cache when `npm ci` filled it (CI does), else the registry.
  await run(
    "npm",
    [
      "install",
      "--global",
      "--prefix",
      prefix,
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
      join(tmp.dir, info!.filename),
    ],
    { cwd: tmp.dir, maxBuffer: 64 * 1024 * 1024 },
  );
}, 600_000);

afterAll(() => tmp.cleanup());

describe("npm pack + npm install --global", () => {
  it("ships the bin, the Blender scripts and the example config", () => {
    expect(files).toContain("dist/cli.cjs");
    expect(files).toContain("dist/bin/cli.js");
    expect(files).toContain("dist/bin/package.json");
    expect(files).toContain("blender/render.py");
    expect(files).toContain("blender/setup_pod.sh");
    expect(files).toContain("config.example.yaml");
  });

  it("puts a working posefactory on PATH", async () => {
    const { stdout } = await run("posefactory", ["--version"], { cwd: tmp.dir, env: userEnv() });
    expect(stdout.trim()).toBe(pkg.version);
  });

  it("finds its own Blender scripts when installed", async () => {
    const project = join(tmp.dir, "project");
    mkdirSync(project, { recursive: true });
    const env = userEnv();
    await run("posefactory", ["init"], { cwd: project, env });
    const { stdout } = await run("posefactory", ["upload", "--dry-run", "--json", "-q"], {
      cwd: project,
      env,
    });
    const summary = JSON.parse(stdout) as { uploads: string[] };
    expect(summary.uploads).toContain("inputs/blender/render.py");
  });
});

describe("npm install from git", () => {
  const consumer = join(tmp.dir, "consumer");

  beforeAll(async () => {
    const git = (...args: string[]) =>
      run("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], {
        cwd: source,
      });
    await git("init", "-q");
    // The copy's node_modules is a link to this checkout's: never part of what npm clones.
    writeFileSync(join(source, ".git", "info", "exclude"), "/node_modules\n");
    await git("add", "-A");
    await git("commit", "-q", "-m", "checkout");
    mkdirSync(consumer, { recursive: true });
    writeFileSync(join(consumer, "package.json"), '{"name": "consumer", "private": true}\n');
    await run(
      "npm",
      [
        "install",
        "--prefer-offline",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
        `git+file://${source}`,
      ],
      { cwd: consumer, maxBuffer: 64 * 1024 * 1024 },
    );
  }, 600_000);

  it("builds the bin in npm's clone: the installed posefactory starts", async () => {
    const { stdout } = await run(join(consumer, "node_modules", ".bin", "posefactory"), [
      "--version",
    ]);
    expect(stdout.trim()).toBe(pkg.version);
  });
});

describe("pf_* aliases in real shells", () => {
  // A folder with a space: the alias must quote the config path for the shell.
  const project = join(tmp.dir, "my project");

  beforeAll(() => {
    mkdirSync(project, { recursive: true });
    writeFileSync(join(project, "posefactory.yaml"), "target: local\n");
  });

  for (const shell of ["zsh", "bash"] as const) {
    it(`${shell}: eval "$(posefactory aliases)" in the rc file, then pf_pipeline --help`, async () => {
      const home = join(tmp.dir, `home-${shell}`);
      mkdirSync(home, { recursive: true });
      const env = { ...userEnv(), HOME: home, SHELL: `/bin/${shell}` };
      const aliases = await run("posefactory", ["aliases", "--shell", shell], {
        cwd: project,
        env,
      });
      expect(aliases.stdout).toContain("alias pf_pipeline=");
      // What the printed header tells users: add the eval line to ~/.zshrc or ~/.bashrc.
      const rc = shell === "zsh" ? ".zshrc" : ".bashrc";
      writeFileSync(
        join(home, rc),
        `cd ${JSON.stringify(project)}\neval "$(posefactory aliases --shell ${shell})"\n`,
      );
      // An interactive shell reads the rc file and expands aliases, as a user's terminal does.
      const result = await run(shell, ["-i", "-c", "pf_pipeline --help && alias pf_upload"], {
        cwd: tmp.dir,
        env,
      });
      expect(result.stdout).toContain("Usage: posefactory pipeline");
      expect(result.stdout).toContain(join(project, "posefactory.yaml"));
    });
  }
});
