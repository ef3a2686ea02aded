import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { uploadDir } from "../../src/storage/sync.js";
import { startS3rver } from "../helpers/s3rver.js";
import { s3StorageFor, writeTree } from "../helpers/storage.js";
import { spawnSync } from "node:child_process";
const work = mkdtempSync(join(tmpdir(), "pf-probe-"));
const server = await startS3rver({ buckets: ["bench"] });
try {
  const small = join(work, "small"); mkdirSync(small); writeTree(small, { count: 300 });
  const t = async (label: string, fn: () => Promise<unknown>) => { const s = performance.now(); const c = process.cpuUsage(); await fn(); const u = process.cpuUsage(c); console.log(label, ((performance.now() - s) / 1000).toFixed(2), "cpu", ((u.user + u.system) / 1e6).toFixed(2)); };
  for (let r = 0; r < 2; r++) {
    await t("small 300 c8", () => uploadDir(s3StorageFor(server.endpoint, { bucket: "bench" }), small, `s${r}/`, {}));
    await t("small 300 c16", () => uploadDir(s3StorageFor(server.endpoint, { bucket: "bench" }), small, `t${r}/`, {concurrency: 16}));
    const env = { ...process.env, RCLONE_CONFIG_B_TYPE: "s3", RCLONE_CONFIG_B_PROVIDER: "Other", RCLONE_CONFIG_B_ACCESS_KEY_ID: "S3RVER", RCLONE_CONFIG_B_SECRET_ACCESS_KEY: "S3RVER", RCLONE_CONFIG_B_ENDPOINT: server.endpoint, RCLONE_CONFIG_B_FORCE_PATH_STYLE: "true", RCLONE_CONFIG_B_NO_CHECK_BUCKET: "true", RCLONE_CONFIG: "/dev/null" };
    delete env.AWS_CA_BUNDLE;
    await t("rclone small 300", async () => spawnSync("rclone", ["copy", small, `b:bench/r${r}/`, "--transfers", "8"], { env }));
  }
  const reqs = await server.requests();
  const byMethod: Record<string, number> = {};
  for (const q of reqs) byMethod[q.method] = (byMethod[q.method] ?? 0) + 1;
  console.log(byMethod);
} finally { await server.stop(); rmSync(work, { recursive: true, force: true }); }
