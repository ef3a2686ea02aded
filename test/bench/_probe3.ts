import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Session } from "node:inspector/promises";
import { writeFileSync } from "node:fs";
import { uploadDir } from "../../src/storage/sync.js";
import { startS3rver } from "../helpers/s3rver.js";
import { s3StorageFor, writeTree } from "../helpers/storage.js";
const work = mkdtempSync(join(tmpdir(), "pf-probe-"));
const server = await startS3rver({ buckets: ["bench"] });
try {
  const small = join(work, "small"); mkdirSync(small); writeTree(small, { count: 300 });
  await uploadDir(s3StorageFor(server.endpoint, { bucket: "bench" }), small, `w/`, {});
  const session = new Session(); session.connect();
  await session.post("Profiler.enable"); await session.post("Profiler.start");
  const c = process.cpuUsage(); const s = performance.now();
  await uploadDir(s3StorageFor(server.endpoint, { bucket: "bench" }), small, `s/`, {});
  const u = process.cpuUsage(c); console.log("wall", ((performance.now() - s)/1000).toFixed(2), "cpu", ((u.user+u.system)/1e6).toFixed(2));
  const { profile } = await session.post("Profiler.stop");
  writeFileSync("/tmp/pf-probe3.cpuprofile", JSON.stringify(profile));
} finally { await server.stop(); rmSync(work, { recursive: true, force: true }); }
