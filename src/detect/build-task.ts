/**
 * Builds a MediaPipe `pose_landmarker_*.task` offline from the legacy `@mediapipe/pose` npm
 * package, for machines that cannot download the official model (CI, air-gapped laptops).
 *
 * A `.task` is an uncompressed zip of `pose_detector.tflite` and
 * `pose_landmarks_detector.tflite`. tasks-vision refuses float models that carry no TFLite
 * model metadata telling it how to normalize the input image, and the legacy package's models
 * carry none, so we add it: a `ModelMetadata` FlatBuffer (identifier M001) stored in one new
 * model Buffer and referenced by one new `Metadata` entry named TFLITE_METADATA.
 *
 * The weights are never re-serialised: we write a new root `Model` table in front of the
 * unchanged old file, whose fields point forward into it (FlatBuffer offsets are unsigned, so
 * the new table must come first). Field slots follow the TFLite schemas (schema.fbs and
 * metadata_schema.fbs from TensorFlow); no schema file is needed at run time.
 */
import { createHash } from "node:crypto";
import * as zlib from "node:zlib";
import { Builder } from "flatbuffers";

/** Bump when the bytes this module produces change: it is part of the cache key. */
export const TASK_BUILDER_VERSION = "1";

const TFLITE_IDENTIFIER = "TFL3";
const METADATA_IDENTIFIER = "M001";
const METADATA_NAME = "TFLITE_METADATA";
/** Offsets are relative to the prefix: keep the old file 64-byte aligned so the weights' 16-byte alignment survives. */
const PREFIX_ALIGN = 64;

/** Model table slots (tflite schema.fbs). */
const MODEL_VERSION_SLOT = 0;
const MODEL_BUFFERS_SLOT = 4;
const MODEL_METADATA_SLOT = 6;
const MODEL_LAST_KNOWN_SLOT = 10;

export interface TensorNormalization {
  mean: number[];
  std: number[];
  /** Input value range after normalization (Stats.min / Stats.max). */
  min: number[];
  max: number[];
}

export interface MetadataSpec {
  name: string;
  version: string;
  inputs: { name: string; normalization: TensorNormalization }[];
  outputs: string[];
}

export interface ModelTensorNames {
  inputs: string[];
  outputs: string[];
  /** Shapes of the output tensors, in the same order. */
  outputShapes: number[][];
}

/** A minimal FlatBuffer table reader over a Uint8Array: just what parsing the Model needs. */
class TableReader {
  private readonly view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  u16(pos: number): number {
    return this.view.getUint16(pos, true);
  }
  u32(pos: number): number {
    return this.view.getUint32(pos, true);
  }
  i32(pos: number): number {
    return this.view.getInt32(pos, true);
  }
  u64(pos: number): bigint {
    return this.view.getBigUint64(pos, true);
  }
  /** Absolute position of a table field, or undefined when absent. */
  field(table: number, slot: number): number | undefined {
    const vtable = table - this.i32(table);
    const vtableSize = this.u16(vtable);
    const entry = 4 + slot * 2;
    if (entry >= vtableSize) return undefined;
    const offset = this.u16(vtable + entry);
    return offset === 0 ? undefined : table + offset;
  }
  slotCount(table: number): number {
    const vtable = table - this.i32(table);
    return (this.u16(vtable) - 4) / 2;
  }
  deref(pos: number): number {
    return pos + this.u32(pos);
  }
  /** Positions of the elements' targets of a vector of tables. */
  tableVector(pos: number): number[] {
    const vec = this.deref(pos);
    const n = this.u32(vec);
    return Array.from({ length: n }, (_, i) => this.deref(vec + 4 + i * 4));
  }
  intVector(pos: number): number[] {
    const vec = this.deref(pos);
    const n = this.u32(vec);
    return Array.from({ length: n }, (_, i) => this.i32(vec + 4 + i * 4));
  }
  string(pos: number): string {
    const str = this.deref(pos);
    const n = this.u32(str);
    return Buffer.from(this.bytes.subarray(str + 4, str + 4 + n)).toString("utf8");
  }
}

function checkTflite(bytes: Uint8Array): TableReader {
  const ident = Buffer.from(bytes.subarray(4, 8)).toString("latin1");
  if (bytes.length < 16 || ident !== TFLITE_IDENTIFIER) {
    throw new Error(`not a TFLite model (file identifier ${JSON.stringify(ident)})`);
  }
  return new TableReader(bytes);
}

/** The names of subgraph 0's input and output tensors, in order. */
export function readTensorNames(tflite: Uint8Array): ModelTensorNames {
  const r = checkTflite(tflite);
  const root = r.deref(0);
  const subgraphsField = r.field(root, 2);
  if (subgraphsField === undefined) throw new Error("TFLite model has no subgraphs");
  const subgraph = r.tableVector(subgraphsField)[0];
  if (subgraph === undefined) throw new Error("TFLite model has no subgraphs");
  const tensorsField = r.field(subgraph, 0);
  const inputsField = r.field(subgraph, 1);
  const outputsField = r.field(subgraph, 2);
  if (tensorsField === undefined || inputsField === undefined || outputsField === undefined) {
    throw new Error("TFLite subgraph lacks tensors, inputs or outputs");
  }
  const tensors = r.tableVector(tensorsField);
  const nameOf = (index: number): string => {
    const tensor = tensors[index];
    const nameField = tensor === undefined ? undefined : r.field(tensor, 3);
    return nameField === undefined ? `tensor_${index}` : r.string(nameField);
  };
  const shapeOf = (index: number): number[] => {
    const tensor = tensors[index];
    const shapeField = tensor === undefined ? undefined : r.field(tensor, 0);
    return shapeField === undefined ? [] : r.intVector(shapeField);
  };
  const outputs = r.intVector(outputsField);
  return {
    inputs: r.intVector(inputsField).map(nameOf),
    outputs: outputs.map(nameOf),
    outputShapes: outputs.map(shapeOf),
  };
}

/** The `Metadata` entry names of a TFLite model (TFLITE_METADATA once metadata is attached). */
export function readMetadataNames(tflite: Uint8Array): string[] {
  const r = checkTflite(tflite);
  const root = r.deref(0);
  const field = r.field(root, MODEL_METADATA_SLOT);
  if (field === undefined) return [];
  return r.tableVector(field).map((entry) => {
    const nameField = r.field(entry, 0);
    return nameField === undefined ? "" : r.string(nameField);
  });
}

function createFloatVector(b: Builder, values: number[]): number {
  b.startVector(4, values.length, 4);
  for (let i = values.length - 1; i >= 0; i--) b.addFloat32(values[i]!);
  return b.endVector();
}

function createOffsetVector(b: Builder, offsets: number[]): number {
  b.startVector(4, offsets.length, 4);
  for (let i = offsets.length - 1; i >= 0; i--) b.addOffset(offsets[i]!);
  return b.endVector();
}

/** Serialise a TFLite `ModelMetadata` (metadata_schema.fbs) with image inputs. */
export function buildModelMetadata(spec: MetadataSpec): Uint8Array {
  const b = new Builder(1024);
  const inputOffsets = spec.inputs.map((input) => {
    const name = b.createString(input.name);
    // ImageProperties { color_space: RGB }
    b.startObject(2);
    b.addFieldInt8(0, 1, 0);
    const imageProperties = b.endObject();
    // Content { content_properties_type: ImageProperties (2), content_properties }
    b.startObject(3);
    b.addFieldInt8(0, 2, 0);
    b.addFieldOffset(1, imageProperties, 0);
    const content = b.endObject();
    // NormalizationOptions { mean, std }
    const mean = createFloatVector(b, input.normalization.mean);
    const std = createFloatVector(b, input.normalization.std);
    b.startObject(2);
    b.addFieldOffset(0, mean, 0);
    b.addFieldOffset(1, std, 0);
    const normalization = b.endObject();
    // ProcessUnit { options_type: NormalizationOptions (1), options }
    b.startObject(2);
    b.addFieldInt8(0, 1, 0);
    b.addFieldOffset(1, normalization, 0);
    const processUnit = b.endObject();
    const processUnits = createOffsetVector(b, [processUnit]);
    // Stats { max, min }
    const max = createFloatVector(b, input.normalization.max);
    const min = createFloatVector(b, input.normalization.min);
    b.startObject(2);
    b.addFieldOffset(0, max, 0);
    b.addFieldOffset(1, min, 0);
    const stats = b.endObject();
    // TensorMetadata { name(0), content(3), process_units(4), stats(5) }
    b.startObject(6);
    b.addFieldOffset(0, name, 0);
    b.addFieldOffset(3, content, 0);
    b.addFieldOffset(4, processUnits, 0);
    b.addFieldOffset(5, stats, 0);
    return b.endObject();
  });
  const outputOffsets = spec.outputs.map((outputName) => {
    const name = b.createString(outputName);
    b.startObject(6);
    b.addFieldOffset(0, name, 0);
    return b.endObject();
  });
  const inputs = createOffsetVector(b, inputOffsets);
  const outputs = createOffsetVector(b, outputOffsets);
  // SubGraphMetadata { input_tensor_metadata(2), output_tensor_metadata(3) }
  b.startObject(4);
  b.addFieldOffset(2, inputs, 0);
  b.addFieldOffset(3, outputs, 0);
  const subgraph = b.endObject();
  const subgraphs = createOffsetVector(b, [subgraph]);
  const name = b.createString(spec.name);
  const version = b.createString(spec.version);
  const minParserVersion = b.createString("1.0.0");
  // ModelMetadata { name(0), version(2), subgraph_metadata(3), min_parser_version(7) }
  b.startObject(8);
  b.addFieldOffset(0, name, 0);
  b.addFieldOffset(2, version, 0);
  b.addFieldOffset(3, subgraphs, 0);
  b.addFieldOffset(7, minParserVersion, 0);
  const root = b.endObject();
  b.finish(root, METADATA_IDENTIFIER);
  return b.asUint8Array().slice();
}

/** Little-endian writer over a growable byte array, positions absolute in the prefix. */
class PrefixWriter {
  private bytes = new Uint8Array(256);
  private view = new DataView(this.bytes.buffer);
  length = 0;
  private ensure(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    const next = new Uint8Array(Math.max(this.bytes.length * 2, this.length + n));
    next.set(this.bytes);
    this.bytes = next;
    this.view = new DataView(next.buffer);
  }
  align(n: number, extra = 0): void {
    while ((this.length + extra) % n !== 0) this.u8(0);
  }
  u8(v: number): number {
    this.ensure(1);
    this.view.setUint8(this.length, v);
    return this.length++;
  }
  u16(v: number): number {
    this.ensure(2);
    this.view.setUint16(this.length, v, true);
    this.length += 2;
    return this.length - 2;
  }
  u32(v: number): number {
    this.ensure(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
    return this.length - 4;
  }
  raw(data: Uint8Array): number {
    this.ensure(data.length);
    this.bytes.set(data, this.length);
    this.length += data.length;
    return this.length - data.length;
  }
  patchU32(pos: number, v: number): void {
    this.view.setUint32(pos, v, true);
  }
  patchI32(pos: number, v: number): void {
    this.view.setInt32(pos, v, true);
  }
  result(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }
}

/**
 * Writes a table: vtable first, then the table (soffset + 4-byte fields). Returns the table
 * position and each field's position so the caller can patch offsets once targets are known.
 */
function writeTable(
  w: PrefixWriter,
  fieldCount: number,
  present: boolean[],
): { table: number; fields: number[] } {
  w.align(2);
  const vtable = w.length;
  const presentCount = present.filter(Boolean).length;
  w.u16(4 + fieldCount * 2);
  w.u16(4 + presentCount * 4);
  let offset = 4;
  for (let i = 0; i < fieldCount; i++) {
    w.u16(present[i] ? offset : 0);
    if (present[i]) offset += 4;
  }
  w.align(4);
  const table = w.u32(0);
  w.patchI32(table, table - vtable);
  const fields: number[] = [];
  for (let i = 0; i < fieldCount; i++) fields.push(present[i] ? w.u32(0) : -1);
  return { table, fields };
}

/**
 * Returns a copy of `tflite` whose model metadata is `metadata` (a ModelMetadata FlatBuffer).
 * Any previous TFLITE_METADATA entry is dropped; every other field is kept as is.
 */
export function attachModelMetadata(tflite: Uint8Array, metadata: Uint8Array): Buffer {
  const r = checkTflite(tflite);
  const root = r.deref(0);
  const slotCount = r.slotCount(root);
  const oldFields: (number | undefined)[] = [];
  for (let slot = 0; slot < slotCount; slot++) {
    const pos = r.field(root, slot);
    if (pos !== undefined && slot > MODEL_LAST_KNOWN_SLOT) {
      throw new Error(
        `TFLite Model field ${slot} is unknown to this builder: update build-task.ts`,
      );
    }
    oldFields.push(pos);
  }
  const buffersField = oldFields[MODEL_BUFFERS_SLOT];
  const oldBuffers = buffersField === undefined ? [] : r.tableVector(buffersField);
  for (const buffer of oldBuffers) {
    // Buffers stored outside the FlatBuffer (models > 2 GB) use absolute file offsets, which
    // moving the old file would break. Pose models are a few MB; refuse rather than corrupt.
    const offsetField = r.field(buffer, 1);
    if (offsetField !== undefined && r.u64(offsetField) > 1n) {
      throw new Error("TFLite models with external buffers (> 2 GB) are not supported");
    }
  }
  const metadataField = oldFields[MODEL_METADATA_SLOT];
  const oldMetadata = (metadataField === undefined ? [] : r.tableVector(metadataField)).filter(
    (entry) => {
      const nameField = r.field(entry, 0);
      return nameField === undefined || r.string(nameField) !== METADATA_NAME;
    },
  );

  const fieldCount = Math.max(slotCount, MODEL_METADATA_SLOT + 1);
  const present = Array.from({ length: fieldCount }, (_, slot) =>
    slot === MODEL_BUFFERS_SLOT || slot === MODEL_METADATA_SLOT
      ? true
      : oldFields[slot] !== undefined,
  );

  const w = new PrefixWriter();
  const rootOffsetPos = w.u32(0);
  w.raw(Buffer.from(TFLITE_IDENTIFIER, "latin1"));
  const model = writeTable(w, fieldCount, present);
  w.patchU32(rootOffsetPos, model.table - rootOffsetPos);

  // New buffers vector: the old elements plus one Buffer holding the metadata bytes.
  w.align(4);
  const buffersVector = w.u32(oldBuffers.length + 1);
  const bufferElements = [...oldBuffers, -1].map(() => w.u32(0));
  const metadataBufferIndex = oldBuffers.length;
  // New metadata vector: the kept old entries plus ours.
  w.align(4);
  const metadataVector = w.u32(oldMetadata.length + 1);
  const metadataElements = [...oldMetadata, -1].map(() => w.u32(0));

  const newBuffer = writeTable(w, 1, [true]);
  const newEntry = writeTable(w, 2, [true, true]);
  w.patchU32(newEntry.fields[1]!, metadataBufferIndex);
  w.align(4);
  const nameString = w.u32(METADATA_NAME.length);
  w.raw(Buffer.from(`${METADATA_NAME}\0`, "latin1"));
  // The Buffer's data vector: contents 16-byte aligned (force_align: 16 in the schema).
  w.align(16, 4);
  const dataVector = w.u32(metadata.length);
  w.raw(metadata);
  w.align(PREFIX_ALIGN);
  const shift = w.length;

  // Patch every offset now that all targets are placed. Old targets move by `shift`.
  const pointTo = (at: number, target: number) => w.patchU32(at, target - at);
  for (let slot = 0; slot < fieldCount; slot++) {
    const at = model.fields[slot]!;
    if (at < 0) continue;
    if (slot === MODEL_BUFFERS_SLOT) pointTo(at, buffersVector);
    else if (slot === MODEL_METADATA_SLOT) pointTo(at, metadataVector);
    else if (slot === MODEL_VERSION_SLOT) w.patchU32(at, r.u32(oldFields[slot]!));
    else pointTo(at, shift + r.deref(oldFields[slot]!));
  }
  for (const [i, target] of oldBuffers.entries()) pointTo(bufferElements[i]!, shift + target);
  pointTo(bufferElements[metadataBufferIndex]!, newBuffer.table);
  for (const [i, target] of oldMetadata.entries()) pointTo(metadataElements[i]!, shift + target);
  pointTo(metadataElements[oldMetadata.length]!, newEntry.table);
  pointTo(newBuffer.fields[0]!, dataVector);
  pointTo(newEntry.fields[0]!, nameString);

  return Buffer.concat([w.result(), tflite]);
}

const crcTable = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(data: Uint8Array): number {
  // zlib.crc32 exists from Node 20.15; keep a table fallback for older 20.x.
  const native = (zlib as { crc32?: (d: Uint8Array) => number }).crc32;
  if (native) return native(data) >>> 0;
  let c = 0xffffffff;
  for (const byte of data) c = crcTable[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * An uncompressed (stored) zip, each member's data 64-byte aligned via the extra field so a
 * reader that maps the file in place sees aligned tensors. Fixed timestamps: same input, same bytes.
 */
export function writeStoredZip(entries: { name: string; data: Uint8Array }[]): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  const dosDate = (1 << 5) | 1; // 1980-01-01
  for (const entry of entries) {
    const name = Buffer.from(entry.name, "utf8");
    const crc = crc32(entry.data);
    const headerSize = 30 + name.length;
    const padding = (PREFIX_ALIGN - ((offset + headerSize) % PREFIX_ALIGN)) % PREFIX_ALIGN;
    const local = Buffer.alloc(headerSize + padding);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(10, 4); // version needed
    local.writeUInt16LE(0, 6); // flags
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt16LE(0, 10); // time
    local.writeUInt16LE(dosDate, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(entry.data.length, 18);
    local.writeUInt32LE(entry.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(padding, 28);
    name.copy(local, 30);
    const cd = Buffer.alloc(46 + name.length);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4); // version made by
    cd.writeUInt16LE(10, 6);
    cd.writeUInt16LE(0, 8);
    cd.writeUInt16LE(0, 10);
    cd.writeUInt16LE(0, 12);
    cd.writeUInt16LE(dosDate, 14);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(entry.data.length, 20);
    cd.writeUInt32LE(entry.data.length, 24);
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt32LE(offset, 42);
    name.copy(cd, 46);
    parts.push(local, Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength));
    central.push(cd);
    offset += local.length + entry.data.length;
  }
  const cdBytes = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cdBytes.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, cdBytes, end]);
}

/** Names of the two members tasks-vision's PoseLandmarker looks for inside a `.task`. */
export const TASK_DETECTOR_NAME = "pose_detector.tflite";
export const TASK_LANDMARKER_NAME = "pose_landmarks_detector.tflite";

/**
 * The pose landmarker `.task` from the two legacy float models: the detector expects pixels
 * mapped to [-1, 1] ((v - 127.5) / 127.5), the landmark model to [0, 1] (v / 255).
 */
export function buildPoseLandmarkerTask(
  detector: Uint8Array,
  landmarker: Uint8Array,
  variant: string,
): Buffer {
  const detectorNames = readTensorNames(detector);
  const landmarkerNames = readTensorNames(landmarker);
  const detectorMetadata = buildModelMetadata({
    name: "pose_detector",
    version: "legacy-npm",
    inputs: detectorNames.inputs.map((name) => ({
      name,
      normalization: { mean: [127.5], std: [127.5], min: [-1], max: [1] },
    })),
    // MediaPipe's own detector names its outputs so: box regressors [1, anchors, 12] and
    // scores [1, anchors, 1]. Name them by shape, whatever the converter called them.
    outputs: detectorNames.outputShapes.map((shape) =>
      shape[shape.length - 1] === 1 ? "classificators" : "regressors",
    ),
  });
  const landmarkerMetadata = buildModelMetadata({
    name: `pose_landmarks_detector_${variant}`,
    version: "legacy-npm",
    inputs: landmarkerNames.inputs.map((name) => ({
      name,
      normalization: { mean: [0], std: [255], min: [0], max: [1] },
    })),
    outputs: landmarkerNames.outputs,
  });
  return writeStoredZip([
    { name: TASK_DETECTOR_NAME, data: attachModelMetadata(detector, detectorMetadata) },
    { name: TASK_LANDMARKER_NAME, data: attachModelMetadata(landmarker, landmarkerMetadata) },
  ]);
}

export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}
