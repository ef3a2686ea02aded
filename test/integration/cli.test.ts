import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../src/log.js";
import { registerSecret } from "../../src/secrets.js";
import { BIN, cleanEnv, makeTempDir, runBin, runCli } from "../helpers/cli.js";

const temps: { cleanup: () => void }[] = [];
afterEach(() => {
  for (const t of temps.splice(0)) t.cleanup();
});
function temp() {
  const t = makeTempDir();
  temps.push(t);
  return t;
}

const SECRET = "pf-test-SECRET-9f8e7d6c5b4a";

describe("posefactory CLI", () => {
  it("init writes a starter config and refuses to overwrite it without --force", async () => {
    const t = temp();
    const env = cleanEnv({}, t.home);
    const first = await runCli(["init"], { cwd: t.dir, env });
    expect(first.code).toBe(0);
    expect(readFileSync(join(t.dir, "posefactory.yaml"), "utf8")).toContain("target: local");
    expect(existsSync(join(t.dir, "characters"))).toBe(true);
    writeFileSync(join(t.dir, "posefactory.yaml"), "data: mine\n");
    const second = await runCli(["init"], { cwd: t.dir, env });
    expect(second.code).toBe(2);
    expect(second.stderr).toContain("already exists");
    expect(readFileSync(join(t.dir, "posefactory.yaml"), "utf8")).toBe("data: mine\n");
    expect((await runCli(["init", "--force"], { cwd: t.dir, env })).code).toBe(0);
    expect((await runCli(["config", "validate"], { cwd: t.dir, env })).code).toBe(0);
  });

  it("aliases call posefactory with the absolute config path", async () => {
    const t = temp();
    writeFileSync(join(t.dir, "posefactory.yaml"), "target: local\n");
    const result = await runCli(["aliases"], { cwd: t.dir, env: cleanEnv({}, t.home) });
    expect(result.code).toBe(0);
    for (const name of ["pf_upload", "pf_render", "pf_detect", "pf_download", "pf_pipeline"]) {
      expect(result.stdout).toContain(
        `alias ${name}='posefactory --config ${join(t.dir, "posefactory.yaml")} ${name.slice(3)}'`,
      );
    }
    const bash = await runCli(["aliases", "--shell", "bash"], {
      cwd: t.dir,
      env: cleanEnv({}, t.home),
    });
    expect(bash.stdout).toContain("~/.bashrc");
  });

  it("config validate: exit 2 naming the YAML error line, every schema problem, exit 0 when valid", async () => {
    const t = temp();
    const env = cleanEnv({}, t.home);
    writeFileSync(join(t.dir, "bad.yaml"), "target: local\ncameras: [1, 2\n");
    const syntax = await runBin(["config", "validate", "-c", "bad.yaml"], { cwd: t.dir, env });
    expect(syntax.code).toBe(2);
    expect(syntax.stderr).toMatch(/bad\.yaml:\d+:\d+ /);
    expect(syntax.stdout).toBe("");
    writeFileSync(join(t.dir, "schema.yaml"), "frames:\n  step: 0\nrender:\n  device: tpu\n");
    const schema = await runCli(["config", "validate", "-c", "schema.yaml"], { cwd: t.dir, env });
    expect(schema.code).toBe(2);
    expect(schema.stderr).toContain("2 problems");
    expect(schema.stderr).toMatch(/schema\.yaml:2:9 frames\.step: /);
    expect(schema.stderr).toMatch(/schema\.yaml:4:11 render\.device: /);
    writeFileSync(join(t.dir, "good.yaml"), "render:\n  samples: 4\n");
    const good = await runCli(["config", "validate", "-c", "good.yaml"], { cwd: t.dir, env });
    expect(good.code).toBe(0);
    const missing = await runCli(["config", "validate"], { cwd: t.dir, env });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("posefactory init");
  });

  it("the built binary: --help lists the commands, --version prints it, usage errors exit 2", async () => {
    const t = temp();
    const env = cleanEnv({}, t.home);
    const help = await runBin(["--help"], { cwd: t.dir, env });
    expect(help.code).toBe(0);
    for (const name of ["init", "config", "doctor", "aliases"]) expect(help.stdout).toContain(name);
    const version = await runBin(["--version"], { cwd: t.dir, env });
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const unknown = await runBin(["frobnicate"], { cwd: t.dir, env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command");
  });

  it("--json prints exactly one JSON object on stdout; logs stay on stderr", async () => {
    const t = temp();
    writeFileSync(join(t.dir, "posefactory.yaml"), "render:\n  sampels: 3\n");
    const result = await runBin(["--json", "config", "validate"], {
      cwd: t.dir,
      env: cleanEnv({}, t.home),
    });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ valid: true });
    expect(result.stdout.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toContain("did you mean `samples`");
  });

  it("a known secret never reaches stdout, stderr or the log file", async () => {
    const t = temp();
    writeFileSync(
      join(t.dir, "posefactory.yaml"),
      "target: pod\ntargets:\n  pod:\n    executor: ssh\n    host: 127.0.0.1\n    port: 9\n    connectTimeoutSeconds: 1\n    storage: {type: s3, endpoint: 'http://127.0.0.1:9', bucket: bkt}\n",
    );
    const env = cleanEnv(
      { POSEFACTORY_S3_ACCESS_KEY_ID: "AKIDTEST", POSEFACTORY_S3_SECRET_ACCESS_KEY: SECRET },
      t.home,
    );
    const logFile = join(t.dir, "pf.log");
    for (const argv of [["config", "show"], ["--json", "config", "show"], ["doctor"]]) {
      const result = await runBin(["-vv", "--log-file", logFile, ...argv], { cwd: t.dir, env });
      expect(result.stdout + result.stderr).not.toContain(SECRET);
    }
    expect(existsSync(logFile) ? readFileSync(logFile, "utf8") : "").not.toContain(SECRET);
    const show = await runBin(["config", "show"], { cwd: t.dir, env });
    expect(show.stdout).toContain("POSEFACTORY_S3_* environment");
  });

  it("the logger redacts secret fields and registered secret values in messages", () => {
    const stream = new PassThrough();
    let text = "";
    stream.on("data", (d) => (text += d));
    registerSecret(SECRET);
    const logger = createLogger({ json: true, stream, level: "trace" });
    logger.info(
      { secretAccessKey: "field-secret-123", env: { TOKEN: "x" } },
      `connecting with ${SECRET}`,
    );
    expect(text).toContain("[redacted]");
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain("field-secret-123");
  });

  it("Ctrl-C (SIGINT) on the built binary stops the work it started and exits 130", async () => {
    const t = temp();
    writeFileSync(join(t.dir, "posefactory.yaml"), "target: local\n");
    const marker = `pf-sigint-${process.pid}-${Date.now()}`;
    const child = spawn(
      process.execPath,
      [BIN, "exec", "--", "bash", "-c", `echo started; exec -a ${marker} sleep 60`],
      {
        cwd: t.dir,
        env: cleanEnv({}, t.home),
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    await new Promise<void>((resolve) =>
      child.stdout!.on("data", (d) => String(d).includes("started") && resolve()),
    );
    child.kill("SIGINT");
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
    expect(code).toBe(130);
    // pgrep without a shell: a shell's own command line would contain the marker too.
    const left = spawnSync("pgrep", ["-f", marker], { encoding: "utf8" }).stdout.trim();
    expect(left).toBe("");
  });
});
