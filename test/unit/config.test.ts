import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadS3Credentials } from "../../src/config/credentials.js";
import { loadConfig, parseConfigText, suggestKey } from "../../src/config/load.js";
import { STARTER_CONFIG } from "../../src/config/starter.js";
import { UsageError, type UserError } from "../../src/errors.js";
import { makeTempDir, ROOT } from "../helpers/cli.js";

const temps: { cleanup: () => void }[] = [];
afterEach(() => {
  for (const t of temps.splice(0)) t.cleanup();
});

function temp() {
  const t = makeTempDir();
  temps.push(t);
  return t;
}

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected an error");
}

describe("config loading", () => {
  it("fills every default from an empty file", () => {
    const config = parseConfigText("", "x.yaml");
    expect(config.target).toBe("local");
    expect(config.cameras.azimuthsDeg).toHaveLength(8);
    expect(config.cameras.framing).toBe("follow");
    expect(config.cameras.bbox).toBe("fast");
    expect(config.sync.concurrency).toBe(8);
    expect(config.render.resolution).toEqual([512, 512]);
  });

  it("validates config.example.yaml and the starter file", () => {
    const example = parseConfigText(
      readFileSync(join(ROOT, "config.example.yaml"), "utf8"),
      "config.example.yaml",
      {},
      (w) => {
        throw new Error(`unexpected warning: ${w}`);
      },
    );
    expect(Object.keys(example.targets)).toEqual(["local", "ssh", "runpod", "slurm"]);
    const ssh = example.targets.ssh!;
    expect(ssh.executor === "ssh" && ssh.storage.type === "s3" && ssh.storage.region).toBe("auto");
    const runpod = example.targets.runpod!;
    expect(runpod.executor === "runpod" && runpod.lifetime).toBe("run");
    expect(parseConfigText(STARTER_CONFIG, "posefactory.yaml").target).toBe("local");
  });

  it("names file, line and column of a YAML syntax error", () => {
    const error = errorOf(() =>
      parseConfigText("target: local\ncameras:\n  margin: [1, 2\n", "bad.yaml"),
    );
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).toMatch(/^bad\.yaml: invalid YAML\n {2}bad\.yaml:\d+:\d+ /);
  });

  it("lists every schema problem with its line, column and key path", () => {
    const text = [
      "target: local",
      "cameras:",
      "  margin: wide",
      "  framing: orbit",
      "render:",
      "  samples: -3",
      "",
    ].join("\n");
    const error = errorOf(() => parseConfigText(text, "p.yaml"));
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UserError).exitCode).toBe(2);
    expect(error.message).toContain("3 problems");
    expect(error.message).toContain("p.yaml:3:11 cameras.margin: expected number, received string");
    expect(error.message).toMatch(/p\.yaml:4:12 cameras\.framing: .*"follow"\|"static"/);
    expect(error.message).toMatch(/p\.yaml:6:12 render\.samples: .*>0/);
  });

  it("points at a key inside a named target", () => {
    const text = [
      "targets:",
      "  pod:",
      "    executor: ssh",
      "    host: pod",
      "    port: '22x'",
      "    storage: {type: s3, bucket: b}",
      "",
    ].join("\n");
    const error = errorOf(() => parseConfigText(text, "t.yaml"));
    expect(error.message).toContain(
      "t.yaml:5:11 targets.pod.port: expected number, received string",
    );
  });

  it("warns on unknown keys with a suggestion and still loads", () => {
    const warnings: string[] = [];
    const config = parseConfigText(
      "camras:\n  margin: 0.1\nrender:\n  sampels: 8\n",
      "w.yaml",
      {},
      (w) => warnings.push(w),
    );
    expect(warnings).toEqual([
      "w.yaml:1:1 camras: unknown key, ignored (did you mean `cameras`?)",
      "w.yaml:4:3 render.sampels: unknown key, ignored (did you mean `samples`?)",
    ]);
    expect(config.render.samples).toBe(32);
    expect(suggestKey("zzzzzz", ["cameras"])).toBeUndefined();
  });

  it("applies precedence: defaults < file < environment < flags", () => {
    const t = temp();
    const file = join(t.dir, "posefactory.yaml");
    writeFileSync(
      file,
      "target: pod\nrender:\n  samples: 8\ntargets:\n  pod:\n    executor: local\n  other:\n    executor: local\n",
    );
    const fromFile = loadConfig({ cwd: t.dir, env: {}, home: t.home });
    expect(fromFile.config.render.samples).toBe(8);
    expect(fromFile.targetName).toBe("pod");
    const fromEnv = loadConfig({
      cwd: t.dir,
      env: { POSEFACTORY_RENDER_SAMPLES: "4", POSEFACTORY_TARGET: "other" },
      home: t.home,
    });
    expect(fromEnv.config.render.samples).toBe(4);
    expect(fromEnv.targetName).toBe("other");
    const fromFlag = loadConfig({
      cwd: t.dir,
      env: { POSEFACTORY_TARGET: "other" },
      target: "local",
      home: t.home,
    });
    expect(fromFlag.targetName).toBe("local");
    expect(fromFlag.target.executor).toBe("local");
    expect(fromDefaults(t.home).config.render.samples).toBe(32);
  });

  it("reports a bad environment value by its variable name", () => {
    const error = errorOf(() =>
      parseConfigText("", "e.yaml", { POSEFACTORY_RENDER_SAMPLES: "many" }),
    );
    expect(error.message).toContain(
      "POSEFACTORY_RENDER_SAMPLES (environment) render.samples: expected number",
    );
  });

  it("finds ./posefactory.yaml, then ~/.config/posefactory/config.yaml, and says to run init when neither exists", () => {
    const t = temp();
    const error = errorOf(() => loadConfig({ cwd: t.dir, env: {}, home: t.home }));
    expect(error.message).toContain("run `posefactory init`");
    const userDir = join(t.home, ".config", "posefactory");
    mkdirSync(userDir, { recursive: true });
    writeFileSync(join(userDir, "config.yaml"), "data: from-home\n");
    expect(loadConfig({ cwd: t.dir, env: {}, home: t.home }).config.data).toBe("from-home");
    writeFileSync(join(t.dir, "posefactory.yaml"), "data: from-cwd\n");
    expect(loadConfig({ cwd: t.dir, env: {}, home: t.home }).config.data).toBe("from-cwd");
    expect(
      errorOf(() => loadConfig({ cwd: t.dir, env: {}, configPath: "nope.yaml" })).message,
    ).toContain("nope.yaml not found");
  });

  it("refuses an unknown target and lists the known ones", () => {
    const error = errorOf(() =>
      loadConfig({ cwd: temp().dir, env: {}, required: false, target: "gpu" }),
    );
    expect(error.message).toContain("Unknown target `gpu`");
    expect(error.message).toContain("local");
  });
});

describe("credentials", () => {
  const storage = {
    type: "s3" as const,
    bucket: "b",
    prefix: "p/",
    region: "auto",
    forcePathStyle: true,
  };

  it("prefers POSEFACTORY_S3_* over AWS_*", () => {
    const creds = loadS3Credentials(storage, {
      baseDir: "/",
      env: {
        POSEFACTORY_S3_ACCESS_KEY_ID: "pf-id",
        POSEFACTORY_S3_SECRET_ACCESS_KEY: "pf-secret",
        AWS_ACCESS_KEY_ID: "aws-id",
        AWS_SECRET_ACCESS_KEY: "aws-secret",
      },
    });
    expect(creds.accessKeyId).toBe("pf-id");
    expect(
      loadS3Credentials(storage, {
        baseDir: "/",
        env: { AWS_ACCESS_KEY_ID: "aws-id", AWS_SECRET_ACCESS_KEY: "aws-secret" },
      }).accessKeyId,
    ).toBe("aws-id");
  });

  it("reads a credentials file and refuses one readable by others, naming the chmod", () => {
    const t = temp();
    const file = join(t.dir, "r2.env");
    writeFileSync(file, "# R2 token\nACCESS_KEY_ID=abc123\nSECRET_ACCESS_KEY='s3cr3t-value'\n");
    chmodSync(file, 0o644);
    const withFile = { ...storage, credentialsFile: "r2.env" };
    expect(
      errorOf(() => loadS3Credentials(withFile, { baseDir: t.dir, env: {} })).message,
    ).toContain(`chmod 600 ${file}`);
    chmodSync(file, 0o600);
    const creds = loadS3Credentials(withFile, { baseDir: t.dir, env: {} });
    expect(creds).toMatchObject({ accessKeyId: "abc123", secretAccessKey: "s3cr3t-value" });
  });

  it("says how to provide credentials when there are none", () => {
    expect(errorOf(() => loadS3Credentials(storage, { baseDir: "/", env: {} })).message).toContain(
      "POSEFACTORY_S3_ACCESS_KEY_ID",
    );
  });
});

function fromDefaults(home: string) {
  return loadConfig({ cwd: home, env: {}, home, required: false });
}
