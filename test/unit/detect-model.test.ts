/**
 * The offline .task build (FlatBuffer surgery + stored zip), read back with the flatbuffers
 * runtime independently of build-task.ts's own reader, and the model resolution order:
 * config path, official download (pinned sha256, cached), offline build as fallback.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { ByteBuffer } from "flatbuffers";
import { afterAll, describe, expect, it } from "vitest";
import { findBrowser } from "../../src/detect/browser.js";
import {
  attachModelMetadata,
  buildModelMetadata,
  buildPoseLandmarkerTask,
  readMetadataNames,
  readTensorNames,
} from "../../src/detect/build-task.js";
import { resolvePoseModel } from "../../src/detect/model.js";
import { UserError } from "../../src/errors.js";
import { createLogger } from "../../src/log.js";

const POSE_DIR = join(import.meta.dirname, "../../node_modules/@mediapipe/pose");
const detector = readFileSync(join(POSE_DIR, "pose_solution_packed_assets.data"));
const landmarkLite = readFileSync(join(POSE_DIR, "pose_landmark_lite.tflite"));
const dir = mkdtempSync(join(tmpdir(), "pf-model-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Stored-zip members: name -> bytes, plus each member's data offset. */
function readStoredZip(zip: Buffer): Map<string, { data: Buffer; offset: number }> {
  const out = new Map<string, { data: Buffer; offset: number }>();
  let pos = 0;
  while (zip.readUInt32LE(pos) === 0x04034b50) {
    expect(zip.readUInt16LE(pos + 8)).toBe(0); // stored, not deflated
    const size = zip.readUInt32LE(pos + 18);
    const nameLength = zip.readUInt16LE(pos + 26);
    const extraLength = zip.readUInt16LE(pos + 28);
    const name = zip.subarray(pos + 30, pos + 30 + nameLength).toString();
    const offset = pos + 30 + nameLength + extraLength;
    out.set(name, { data: zip.subarray(offset, offset + size), offset });
    pos = offset + size;
  }
  return out;
}

/** Reads ModelMetadata's first input normalization with the flatbuffers runtime. */
function readNormalization(tflite: Buffer): { mean: number[]; std: number[]; outputs: string[] } {
  const bb = new ByteBuffer(new Uint8Array(tflite));
  const field = (table: number, slot: number) => {
    const o = bb.__offset(table, 4 + slot * 2);
    return o === 0 ? undefined : table + o;
  };
  const vectorOfTables = (at: number) => {
    const vec = bb.__vector(at);
    return Array.from({ length: bb.__vector_len(at) }, (_, i) => bb.__indirect(vec + i * 4));
  };
  const model = bb.readInt32(bb.position()) + bb.position();
  const metadataEntries = vectorOfTables(field(model, 6)!);
  const entry = metadataEntries.find((e) => bb.__string(field(e, 0)!) === "TFLITE_METADATA")!;
  const bufferIndex = bb.readUint32(field(entry, 1)!);
  const buffer = vectorOfTables(field(model, 4)!)[bufferIndex]!;
  const dataAt = field(buffer, 0)!;
  const data = tflite.subarray(bb.__vector(dataAt), bb.__vector(dataAt) + bb.__vector_len(dataAt));
  expect(bb.__vector(dataAt) % 16).toBe(0); // force_align: 16
  const md = new ByteBuffer(new Uint8Array(data));
  expect(md.__has_identifier("M001")).toBe(true);
  const mdField = (table: number, slot: number) => {
    const o = md.__offset(table, 4 + slot * 2);
    return o === 0 ? undefined : table + o;
  };
  const mdTables = (at: number) => {
    const vec = md.__vector(at);
    return Array.from({ length: md.__vector_len(at) }, (_, i) => md.__indirect(vec + i * 4));
  };
  const mdFloats = (at: number) => {
    const vec = md.__vector(at);
    return Array.from({ length: md.__vector_len(at) }, (_, i) => md.readFloat32(vec + i * 4));
  };
  const root = md.readInt32(md.position()) + md.position();
  const subgraph = mdTables(mdField(root, 3)!)[0]!;
  const input = mdTables(mdField(subgraph, 2)!)[0]!;
  const unit = mdTables(mdField(input, 4)!)[0]!;
  expect(md.readUint8(mdField(unit, 0)!)).toBe(1); // NormalizationOptions
  const options = md.__indirect(mdField(unit, 1)!);
  const outputs = mdTables(mdField(subgraph, 3)!).map((t) => md.__string(mdField(t, 0)!) as string);
  return { mean: mdFloats(mdField(options, 0)!), std: mdFloats(mdField(options, 1)!), outputs };
}

describe("offline .task build", () => {
  const task = buildPoseLandmarkerTask(detector, landmarkLite, "lite");
  const members = readStoredZip(task);

  it("is a stored zip of the two models the PoseLandmarker task expects, data 64-byte aligned", () => {
    expect([...members.keys()]).toEqual(["pose_detector.tflite", "pose_landmarks_detector.tflite"]);
    for (const { offset } of members.values()) expect(offset % 64).toBe(0);
  });

  it("keeps the graphs and adds metadata with the right image normalization", () => {
    const det = members.get("pose_detector.tflite")!.data;
    const lm = members.get("pose_landmarks_detector.tflite")!.data;
    expect(readTensorNames(det)).toEqual(readTensorNames(detector));
    expect(readTensorNames(lm)).toEqual(readTensorNames(landmarkLite));
    expect(readMetadataNames(det)).toEqual([...readMetadataNames(detector), "TFLITE_METADATA"]);
    expect(readNormalization(det)).toEqual({
      mean: [127.5],
      std: [127.5],
      outputs: ["regressors", "classificators"],
    });
    expect(readNormalization(lm)).toMatchObject({ mean: [0], std: [255] });
    expect(readNormalization(lm).outputs).toHaveLength(5);
    // The old model follows the new prefix unchanged (weights not re-serialised).
    expect(det.subarray(det.length - detector.length).equals(detector)).toBe(true);
  });

  it("replaces existing TFLITE_METADATA instead of stacking a second", () => {
    const md = buildModelMetadata({ name: "x", version: "2", inputs: [], outputs: [] });
    const once = attachModelMetadata(landmarkLite, md);
    const twice = attachModelMetadata(once, md);
    expect(readMetadataNames(twice).filter((n) => n === "TFLITE_METADATA")).toHaveLength(1);
  });

  it("is deterministic", () => {
    expect(buildPoseLandmarkerTask(detector, landmarkLite, "lite").equals(task)).toBe(true);
  });

  it("rejects a file that is not a TFLite model", () => {
    expect(() => readTensorNames(Buffer.from("definitely not a model"))).toThrow(
      /not a TFLite model/,
    );
  });
});

function captureLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: createLogger({ level: "debug", json: true, stream }), lines };
}

async function serveOnce(
  body: Buffer,
): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const server = createServer((_req, res) => {
    hits++;
    res.end(body);
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/pose_landmarker_lite.task`,
    hits: () => hits,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

describe("model resolution", () => {
  const fakeTask = buildPoseLandmarkerTask(detector, landmarkLite, "lite");
  const sha = createHash("sha256").update(fakeTask).digest("hex");

  it("uses detect.modelPath as is, relative to the config folder", async () => {
    writeFileSync(join(dir, "mine.task"), fakeTask);
    const model = await resolvePoseModel({
      variant: "full",
      modelPath: "mine.task",
      baseDir: dir,
      logger: captureLogger().logger,
    });
    expect(model).toMatchObject({
      path: join(dir, "mine.task"),
      name: "mine",
      source: "config",
      sha256: sha,
    });
  });

  it("explains a bad modelPath", async () => {
    writeFileSync(join(dir, "bad.task"), "hello");
    const { logger } = captureLogger();
    await expect(
      resolvePoseModel({ variant: "full", modelPath: join(dir, "nope.task"), logger }),
    ).rejects.toThrow(/detect.modelPath: cannot read/);
    await expect(
      resolvePoseModel({ variant: "full", modelPath: join(dir, "bad.task"), logger }),
    ).rejects.toThrow(/not a .task file/);
  });

  it("downloads the official model once, checks its pinned sha256, then uses the cache", async () => {
    const server = await serveOnce(fakeTask);
    const cacheDir = join(dir, "cache-download");
    try {
      const official = { lite: { url: server.url, sha256: sha } };
      const { logger } = captureLogger();
      const first = await resolvePoseModel({ variant: "lite", cacheDir, logger, official });
      expect(first).toMatchObject({
        source: "official",
        sha256: sha,
        name: "pose_landmarker_lite",
      });
      const second = await resolvePoseModel({ variant: "lite", cacheDir, logger, official });
      expect(second.path).toBe(first.path);
      expect(server.hits()).toBe(1);
    } finally {
      await server.close();
    }
  });

  it("refuses a download whose sha256 differs from the pin", async () => {
    const server = await serveOnce(Buffer.from("tampered"));
    try {
      const official = { lite: { url: server.url, sha256: sha } };
      const error = await resolvePoseModel({
        variant: "lite",
        cacheDir: join(dir, "cache-bad"),
        logger: captureLogger().logger,
        official,
      }).catch((e) => e);
      expect(error).toBeInstanceOf(UserError);
      expect(String(error.message)).toMatch(/expected/);
    } finally {
      await server.close();
    }
  });

  it("falls back to the offline build, logged, when the download fails, and caches it by content", async () => {
    const { logger, lines } = captureLogger();
    const cacheDir = join(dir, "cache-offline");
    const official = { lite: { url: "http://127.0.0.1:9/unreachable.task", sha256: sha } };
    const built = await resolvePoseModel({ variant: "lite", cacheDir, logger, official });
    expect(built.source).toBe("built");
    expect(built.version).toMatch(/^npm:@mediapipe\/pose@/);
    expect(built.path).toMatch(/models[/\\]built[/\\][0-9a-f]{16}[/\\]pose_landmarker_lite\.task$/);
    expect(readFileSync(built.path).equals(fakeTask)).toBe(true);
    expect(lines.join("")).toMatch(/building it offline/);
    const again = await resolvePoseModel({ variant: "lite", cacheDir, logger, download: false });
    expect(again.path).toBe(built.path);
  });
});

describe("browser lookup", () => {
  it("names the install command when the configured browser is missing", () => {
    expect(() => findBrowser("/nowhere/chrome", "linux")).toThrow(/apt-get install chromium/);
    expect(() => findBrowser("/nowhere/chrome", "darwin")).toThrow(/brew install --cask chromium/);
  });
});
