import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { configSchema, localTargetSchema, sshTargetSchema } from "../../src/config/schema.js";
import { canonicalJson, hashFolder, renderKey } from "../../src/pipeline/cache-key.js";
import { buildRcloneEnv, buildSshJobScript } from "../../src/pipeline/host-script.js";
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

describe("the render host's job script", () => {
  const credentials = { accessKeyId: "AKID", secretAccessKey: "super-secret-value", source: "env" };

  it("keeps credentials in the environment, never in the script", () => {
    const script = buildSshJobScript({
      storage,
      workdir: "/workspace/pf",
      blender: "blender",
      runId: "20261125-083012-a1b2c3",
      characterFiles: ['Samba "Dancing" $1.fbx'],
      jobJson: '{"version": 1}',
    });
    const env = buildRcloneEnv(storage, credentials);
    expect(script).not.toContain("super-secret-value");
    expect(env.RCLONE_CONFIG_PFSTORE_SECRET_ACCESS_KEY).toBe("super-secret-value");
    expect(env.RCLONE_CONFIG_PFSTORE_PROVIDER).toBe("Cloudflare");
    expect(env.RCLONE_CONFIG_PFSTORE_NO_CHECK_BUCKET).toBe("true");
    expect(script).toContain("unset AWS_CA_BUNDLE");
    expect(script).toContain("pfstore:bkt/p/runs/20261125-083012-a1b2c3");
    expect(script).toContain('Samba "Dancing" $1.fbx\nPF_CHARACTERS_EOF');
    expect(script).toContain(
      "cat > job.json <<'PF_JOB_JSON_EOF'\n{\"version\": 1}\nPF_JOB_JSON_EOF",
    );
    expect(script).not.toContain("detect_pose.py");
  });

  it("runs the python detector on the host when asked", () => {
    const script = buildSshJobScript({
      storage,
      workdir: "/w",
      blender: "blender",
      runId: "r1",
      characterFiles: ["a.fbx"],
      jobJson: "{}",
      detect: {
        python: "python3",
        model: "lite",
        delegate: "gpu",
        minPoseDetectionConfidence: 0.5,
        minPosePresenceConfidence: 0.5,
      },
    });
    expect(script).toContain(
      '"$py" /w/inputs/blender/detect_pose.py --run-dir . --model lite --delegate gpu',
    );
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
