/**
 * The "Done when" for sync, against a real s3rver, through the CLI (`upload`,
 * `download` with --json): requests are counted at the server.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  appendFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uploadDir } from "../../src/storage/sync.js";
import { cleanEnv, makeTempDir, runCli } from "../helpers/cli.js";
import { type S3rverHandle, startS3rver } from "../helpers/s3rver.js";
import { s3StorageFor, writeTree } from "../helpers/storage.js";

let server: S3rverHandle;
const temps: { cleanup: () => void }[] = [];
beforeAll(async () => {
  server = await startS3rver({ buckets: ["test-bucket"] });
});
afterAll(async () => {
  await server?.stop();
  for (const t of temps) t.cleanup();
});

function project(prefix: string) {
  const t = makeTempDir();
  temps.push(t);
  writeFileSync(
    join(t.dir, "posefactory.yaml"),
    [
      "target: s3test",
      "targets:",
      "  s3test:",
      "    executor: local",
      "    storage:",
      "      type: s3",
      `      endpoint: ${server.endpoint}`,
      "      bucket: test-bucket",
      `      prefix: ${prefix}`,
      "",
    ].join("\n"),
  );
  const env = cleanEnv(
    { POSEFACTORY_S3_ACCESS_KEY_ID: "S3RVER", POSEFACTORY_S3_SECRET_ACCESS_KEY: "S3RVER" },
    t.home,
  );
  const cli = async (...argv: string[]) => {
    const result = await runCli([...argv, "--json"], { cwd: t.dir, env });
    if (result.code !== 0)
      throw new Error(`posefactory ${argv.join(" ")} exited ${result.code}: ${result.stderr}`);
    return JSON.parse(result.stdout) as Record<string, number | string | boolean>;
  };
  return { dir: t.dir, env, cli };
}

describe("upload", () => {
  it("300 small + two 20 MB files; a rerun sends no PUT and no HEAD; one change = one PUT; --delete = one DELETE", async () => {
    const p = project("up/");
    const characters = join(p.dir, "characters");
    mkdirSync(characters);
    const files = writeTree(characters, { count: 300, big: 2, bigBytes: 20 * 1024 * 1024 });

    const first = await p.cli("upload");
    const blenderFiles = (first.uploaded as number) - files.length;
    expect(blenderFiles).toBeGreaterThan(0);
    expect(first.skipped).toBe(0);
    expect(first.bytes as number).toBeGreaterThan(40 * 1024 * 1024);

    await server.resetRequests();
    const second = await p.cli("upload");
    expect(second).toMatchObject({
      uploaded: 0,
      skipped: files.length + blenderFiles,
      deleted: 0,
      bytes: 0,
    });
    expect(await server.count("PUT")).toBe(0);
    expect(await server.count("POST")).toBe(0);
    expect(await server.count("HEAD")).toBe(0);

    appendFileSync(join(characters, files[5]!), "changed");
    await server.resetRequests();
    const third = await p.cli("upload");
    expect(third).toMatchObject({ uploaded: 1, deleted: 0 });
    expect(await server.count("PUT")).toBe(1);
    expect(await server.count("HEAD")).toBe(0);

    rmSync(join(characters, files[7]!));
    await server.resetRequests();
    const dry = await p.cli("upload", "--delete", "--dry-run");
    expect(dry).toMatchObject({
      dryRun: true,
      uploaded: 0,
      deleted: 1,
      deletes: [`up/inputs/characters/${files[7]}`],
    });
    expect(await server.count("DELETE")).toBe(0);
    const fourth = await p.cli("upload", "--delete");
    expect(fourth).toMatchObject({ uploaded: 0, deleted: 1 });
    expect(await server.count("DELETE")).toBe(1);
    expect(await server.count("PUT")).toBe(0);
  });

  it("objects this machine never saw are verified by one HEAD each, then remembered", async () => {
    const p = project("shared/");
    const characters = join(p.dir, "characters");
    mkdirSync(characters);
    writeTree(characters, { count: 5 });
    // Someone else uploaded the same files (a different machine: no local state here).
    const other = makeTempDir();
    temps.push(other);
    await uploadDir(s3StorageFor(server.endpoint), characters, "shared/inputs/characters/", {
      stateDir: other.dir,
    });
    await server.resetRequests();
    const first = await p.cli("upload");
    expect(await server.count("HEAD")).toBe(5);
    expect(first.skipped as number).toBeGreaterThanOrEqual(5);
    await server.resetRequests();
    await p.cli("upload");
    expect(await server.count("HEAD")).toBe(0);
    expect(await server.count("PUT")).toBe(0);
  });
});

describe("download", () => {
  it("downloads the latest run, then a rerun sends no GET or HEAD; a local edit is repaired", async () => {
    const p = project("dl/");
    const storage = s3StorageFor(server.endpoint);
    const src = makeTempDir();
    temps.push(src);
    const files = writeTree(src.dir, { count: 40 });
    writeFileSync(join(src.dir, "renders with space ü.json"), '{"a": 1}');
    await uploadDir(storage, src.dir, "dl/runs/20261125-083012-a1b2c3/", {
      stateDir: join(src.dir, ".state"),
    });
    await storage.putBytes("dl/runs/20261124-000000-000000/job.json", "{}");

    const first = await p.cli("download");
    expect(first).toMatchObject({
      runId: "20261125-083012-a1b2c3",
      downloaded: files.length + 1,
      skipped: 0,
    });
    const dest = join(p.dir, "data", "runs", "20261125-083012-a1b2c3");
    for (const rel of files)
      expect(readFileSync(join(dest, rel)).equals(readFileSync(join(src.dir, rel)))).toBe(true);
    expect(readFileSync(join(dest, "renders with space ü.json"), "utf8")).toBe('{"a": 1}');

    await server.resetRequests();
    const second = await p.cli("download");
    expect(second).toMatchObject({ downloaded: 0, skipped: files.length + 1 });
    expect(await server.count("GET")).toBe(2); // listChildren(runs/) + the run's listing
    expect(await server.count("HEAD")).toBe(0);

    writeFileSync(join(dest, files[0]!), "tampered");
    const third = await p.cli("download", "20261125-083012-a1b2c3");
    expect(third).toMatchObject({ downloaded: 1 });
    expect(readFileSync(join(dest, files[0]!)).equals(readFileSync(join(src.dir, files[0]!)))).toBe(
      true,
    );
    expect(readdirSync(dest).some((n) => n.endsWith(".part"))).toBe(false);

    const older = await p.cli("download", "20261124-000000-000000", "--dry-run");
    expect(older).toMatchObject({
      dryRun: true,
      downloaded: 1,
      downloads: ["dl/runs/20261124-000000-000000/job.json"],
    });
    const sha = createHash("sha256").update("{}").digest("hex");
    expect(sha).toHaveLength(64);
  });

  it("objects pushed by rclone (no sha256 metadata) download once, then are skipped without HEADs", async () => {
    const p = project("rc/");
    const src = makeTempDir();
    temps.push(src);
    const files = writeTree(src.dir, { count: 12 });
    // s3rver only reports a "folder" (CommonPrefixes) that holds an object directly, as a
    // run folder does (job.json, manifest.json): keep that shape.
    writeFileSync(join(src.dir, "manifest.json"), "{}");
    files.push("manifest.json");
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      RCLONE_CONFIG: "/dev/null",
      RCLONE_CONFIG_T_TYPE: "s3",
      RCLONE_CONFIG_T_PROVIDER: "Other",
      RCLONE_CONFIG_T_ACCESS_KEY_ID: "S3RVER",
      RCLONE_CONFIG_T_SECRET_ACCESS_KEY: "S3RVER",
      RCLONE_CONFIG_T_ENDPOINT: server.endpoint,
      RCLONE_CONFIG_T_FORCE_PATH_STYLE: "true",
      RCLONE_CONFIG_T_NO_CHECK_BUCKET: "true",
    };
    delete env.AWS_CA_BUNDLE;
    const pushed = spawnSync(
      "rclone",
      ["copy", src.dir, "t:test-bucket/rc/runs/20261201-000000-abcdef/"],
      { env, encoding: "utf8" },
    );
    expect(pushed.stderr).toBe("");
    expect(pushed.status).toBe(0);

    const first = await p.cli("download");
    expect(first).toMatchObject({ downloaded: files.length, skipped: 0 });
    await server.resetRequests();
    const second = await p.cli("download");
    expect(second).toMatchObject({ downloaded: 0, skipped: files.length });
    expect(await server.count("HEAD")).toBe(0);
    expect(await server.count("GET")).toBe(2);
  });
});
