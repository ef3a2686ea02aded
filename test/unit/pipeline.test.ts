import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { configSchema, localTargetSchema, sshTargetSchema } from "../../src/config/schema.js";
import { HOST_SCRIPTS_DIR } from "../../src/jobs/host-scripts.js";
import { canonicalJson, hashFolder, renderKey } from "../../src/pipeline/cache-key.js";
import { buildSshJob, buildStorageEnv } from "../../src/pipeline/host-script.js";
import { detectPlace } from "../../src/pipeline/run.js";
import { parseChecksums, verifyChecksums } from "../../src/storage/checksums.js";

const storage = {
  type: "s3" as const,
  endpoint: "https://acc.r2.cloudflarestorage.com",
  bucket: "bkt",
  prefix: "p/",
  region: "auto",
  forcePathStyle: true,
};

const fakeBin = mkdtempSync(join(tmpdir(), "pf-fake-rclone-"));
writeFileSync(
  join(fakeBin, "rclone"),
  '#!/bin/sh\nenv | grep -E "^(RCLONE_|AWS_)" | sort\necho "args: $*"\n',
  { mode: 0o755 },
);
afterAll(() => rmSync(fakeBin, { recursive: true, force: true }));

describe("render cache keys", () => {
  it("ignore key order and settings that do not change pixels", () => {
    expect(canonicalJson({ b: 1, a: { d: 2, c: 3 } })).toBe(
      canonicalJson({ a: { c: 3, d: 2 }, b: 1 }),
    );
    const base = configSchema.parse({});
    const key = renderKey("abc", base, "blender");
    expect(
      renderKey(
        "abc",
        configSchema.parse({ sync: { concurrency: 2 }, data: "elsewhere" }),
        "blender",
      ),
    ).toBe(key);
    expect(renderKey("abc", configSchema.parse({ render: { samples: 4 } }), "blender")).not.toBe(
      key,
    );
    expect(renderKey("abd", base, "blender")).not.toBe(key);
    expect(renderKey("abc", base, "blender2")).not.toBe(key);
  });

  it("hash the Blender scripts folder by names and contents", () => {
    const dir = mkdtempSync(join(tmpdir(), "pf-hash-"));
    try {
      writeFileSync(join(dir, "a.py"), "print(1)\n");
      const first = hashFolder(dir);
      writeFileSync(join(dir, "b.pyc"), "ignored");
      expect(hashFolder(dir)).toBe(first);
      writeFileSync(join(dir, "a.py"), "print(2)\n");
      expect(hashFolder(dir)).not.toBe(first);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("sha256sums.txt from the render host", () => {
  it("parses sha256sum's format, escaped names included, and verifies files", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pf-sums-"));
    try {
      writeFileSync(join(dir, "a b.png"), "hello");
      const hello = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
      const sums = parseChecksums(`${hello}  ./a b.png\n\\${"0".repeat(64)}  x\\\\ny\n`);
      expect(sums.get("a b.png")).toBe(hello);
      expect(sums.get("x\\ny")).toBe("0".repeat(64));
      writeFileSync(join(dir, "sha256sums.txt"), `${hello}  a b.png\n`);
      expect(await verifyChecksums(dir)).toBe(1);
      writeFileSync(join(dir, "a b.png"), "tampered");
      await expect(verifyChecksums(dir)).rejects.toThrow(/do not match/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the render host's job", () => {
  const credentials = { accessKeyId: "AKID", secretAccessKey: "super-secret-value", source: "env" };

  it("keeps credentials in the environment, never in the job's files", () => {
    const job = buildSshJob({
      storage,
      workdir: "/workspace/pf",
      blender: "blender",
      runId: "20261125-083012-a1b2c3",
      inputFiles: ['characters/Samba "Dancing" $1.fbx', "blender/render.py"],
      jobJson: '{"version": 1}',
    });
    const env = buildStorageEnv(storage, credentials);
    for (const text of [job.script, ...Object.values(job.files ?? {})]) {
      expect(text).not.toContain("super-secret-value");
    }
    expect(JSON.stringify(job.env)).not.toContain("super-secret-value");
    expect(env.PF_S3_SECRET_ACCESS_KEY).toBe("super-secret-value");
    expect(job.env?.PF_STEPS).toBe("pull render push");
    expect(job.env?.PF_RUN_KEY).toBe("p/runs/20261125-083012-a1b2c3");
    expect(job.env?.PF_INPUTS_KEY).toBe("p/inputs");
    expect(job.files?.["inputs.txt"]).toBe(
      'characters/Samba "Dancing" $1.fbx\nblender/render.py\n',
    );
    expect(job.files?.["job.json"]).toBe('{"version": 1}\n');
    expect(job.files?.[".pf-rclone.sh"]).toContain("unset AWS_CA_BUNDLE");
    expect(job.env?.PF_DETECT_ARGS).toBeUndefined();
  });

  it("maps the storage settings to rclone's environment in rclone.sh", () => {
    const env = buildStorageEnv(storage, credentials);
    const out = execFileSync(
      "bash",
      [
        "--noprofile",
        "--norc",
        "-c",
        // A stand-in for rclone on PATH that prints its environment and arguments.
        `. "$1"; pf_rclone copy "$(pf_remote p/runs/r1)" .`,
        "bash",
        join(HOST_SCRIPTS_DIR, "rclone.sh"),
      ],
      {
        env: { ...env, PATH: `${fakeBin}:${process.env.PATH}`, AWS_CA_BUNDLE: "/x" },
        encoding: "utf8",
      },
    );
    expect(out).toContain("RCLONE_CONFIG_PFSTORE_SECRET_ACCESS_KEY=super-secret-value");
    expect(out).toContain("RCLONE_CONFIG_PFSTORE_PROVIDER=Cloudflare");
    expect(out).toContain("RCLONE_CONFIG_PFSTORE_NO_CHECK_BUCKET=true");
    expect(out).toContain("RCLONE_CONFIG_PFSTORE_ENDPOINT=https://acc.r2.cloudflarestorage.com");
    expect(out).not.toContain("AWS_CA_BUNDLE");
    expect(out).toContain("args: copy pfstore:bkt/p/runs/r1 . --config  --fast-list --transfers 8");
  });

  it("runs the python detector on the host when asked", () => {
    const job = buildSshJob({
      storage,
      workdir: "/w",
      blender: "blender",
      runId: "r1",
      inputFiles: ["characters/a.fbx"],
      jobJson: "{}",
      detect: {
        python: "python3",
        model: "lite",
        others: ["full", "heavy"],
        delegate: "gpu",
        minPoseDetectionConfidence: 0.5,
        minPosePresenceConfidence: 0.5,
      },
    });
    expect(job.env?.PF_STEPS).toBe("pull render detect push");
    expect(job.env?.PF_DETECT_ARGS).toContain(
      "/w/inputs/blender/detect_pose.py --run-dir . --model lite --delegate gpu",
    );
    // detect.models: the further models into detections-<model>/.
    expect(job.env?.PF_DETECT_ARGS).toMatch(/ --also full --also heavy$/);
  });

  it("puts detection on the host for ssh targets by default, in Chromium locally", () => {
    const ssh = sshTargetSchema.parse({ executor: "ssh", host: "pod", storage });
    const local = localTargetSchema.parse({ executor: "local" });
    expect(detectPlace(configSchema.parse({}), ssh)).toBe("host");
    expect(detectPlace(configSchema.parse({}), local)).toBe("local");
    expect(detectPlace(configSchema.parse({ detect: { backend: "web" } }), ssh)).toBe("local");
    expect(detectPlace(configSchema.parse({ detect: { enabled: false } }), ssh)).toBe("none");
  });
});
