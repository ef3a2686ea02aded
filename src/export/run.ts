/**
 * `posefactory export`: a rendered run as a training dataset others' tools load.
 *
 * data/runs/<runId>/export/coco/           (the layout CVAT and Datumaro import)
 *   annotations/person_keypoints_<split>.json   every character merged, COCO keypoints 17
 *   images/<split>/<character>/<clip>/<view>/f0001.png
 * data/runs/<runId>/export/yolo/           (Ultralytics YOLO-pose)
 *   data.yaml                                   path, train, val, kpt_shape, flip_idx, names
 *   images/<split>/<character>/<clip>/<view>/f0001.png
 *   labels/<split>/<character>/<clip>/<view>/f0001.txt   "0 cx cy w h x y v x y v ..." (0..1)
 *
 * Image ids are stable for a run: 1.. in the order of the images' paths, whatever the split,
 * so train and val never share an id and a re-export gives the same ids. `area` and `bbox`
 * come from the person's mask (detect/mask.ts), `segmentation` is its compressed RLE. Images
 * are hard-linked when the file system allows, else copied. The export is written to a
 * staging folder and swapped in at the end: an interrupted export leaves the previous one.
 */
import { copyFile, link, mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, posix } from "node:path";
import { stringify } from "yaml";
import { maskArea, maskBbox, readMask } from "../detect/mask.js";
import { type Annotations, annotationsSchema } from "../detect/schema.js";
import { UserError } from "../errors.js";
import { annotationsPath, RunFiles, rendersDir } from "../run/paths.js";
import { encodeRle } from "./rle.js";
import { chooseValGroups, type SplitKind, splitOf } from "./split.js";

export type ExportFormat = "coco" | "yolo";

export interface ExportOptions {
  format: ExportFormat;
  split: SplitKind;
  /** Share of groups (characters, clips or images) in val, 0..1. */
  val: number;
  seed: number;
}

export interface ExportResult {
  outDir: string;
  format: ExportFormat;
  splits: Record<string, { images: number; characters: string[] }>;
  files: string[];
}

/** COCO's left/right pairs of the 17 keypoints: the index each one becomes when mirrored. */
export const COCO_FLIP_INDEX = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15];

interface Item {
  id: number;
  character: string;
  image: Annotations["images"][number];
  annotation: Annotations["annotations"][number];
  /** Relative to the run folder. */
  source: string;
  /** Relative to images/<split>/: <character>/<clip>/<view>/f0001.png */
  fileName: string;
  split: "train" | "val";
}

async function readRun(runDir: string): Promise<{ items: Item[]; categories: unknown[] }> {
  const characters = await readdir(join(runDir, RunFiles.renders), { withFileTypes: true }).catch(
    () => {
      throw new UserError(`${join(runDir, RunFiles.renders)} does not exist: render the run first`);
    },
  );
  const items: Omit<Item, "id" | "split">[] = [];
  let categories: unknown[] = [];
  for (const entry of characters
    .filter((e) => e.isDirectory())
    .sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const character = entry.name;
    let text: string;
    try {
      text = await readFile(join(runDir, annotationsPath(character)), "utf8");
    } catch {
      continue; // a failed character: nothing to export
    }
    const parsed = annotationsSchema.safeParse(JSON.parse(text));
    if (!parsed.success) {
      throw new UserError(
        `${annotationsPath(character)} is not valid (${parsed.error.issues[0]?.message ?? ""}): render the run again`,
      );
    }
    categories = parsed.data.categories;
    const byImage = new Map(parsed.data.annotations.map((a) => [a.image_id, a]));
    for (const image of parsed.data.images) {
      const annotation = byImage.get(image.id);
      if (!annotation) continue;
      items.push({
        character,
        image,
        annotation,
        source: posix.join(rendersDir(character), image.file_name),
        fileName: posix.join(character, image.file_name),
      });
    }
  }
  if (items.length === 0) {
    throw new UserError(
      `Nothing to export in ${runDir}: no renders/<character>/annotations.json with images (render with outputs.keypoints: true)`,
    );
  }
  items.sort((a, b) => (a.fileName < b.fileName ? -1 : a.fileName > b.fileName ? 1 : 0));
  return { items: items.map((item, i) => ({ ...item, id: i + 1, split: "train" })), categories };
}

async function placeImage(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  try {
    await link(from, to);
  } catch {
    await copyFile(from, to);
  }
}

function yoloLine(item: Item, bbox: [number, number, number, number]): string {
  const { width, height } = item.image;
  const [x, y, w, h] = bbox;
  const f = (v: number) => v.toFixed(6);
  const parts = ["0", f((x + w / 2) / width), f((y + h / 2) / height), f(w / width), f(h / height)];
  const kp = item.annotation.keypoints;
  for (let k = 0; k < 17; k++) {
    const v = kp[k * 3 + 2]!;
    parts.push(
      v > 0 ? f(kp[k * 3]! / width) : f(0),
      v > 0 ? f(kp[k * 3 + 1]! / height) : f(0),
      String(v),
    );
  }
  return `${parts.join(" ")}\n`;
}

/** Writes data/runs/<runId>/export/<format>/ from the run's renders and annotations. */
export async function runExport(runDir: string, options: ExportOptions): Promise<ExportResult> {
  if (!(options.val >= 0 && options.val < 1)) {
    throw new UserError(`--val must be a share from 0 to below 1 (e.g. 0.2), got ${options.val}`);
  }
  const { items, categories } = await readRun(runDir);
  const valGroups = chooseValGroups(
    items.map((i) => ({ character: i.character, clip: i.image.clip, key: i.fileName })),
    options.split,
    options.val,
    options.seed,
  );
  for (const item of items) {
    item.split = splitOf(
      { character: item.character, clip: item.image.clip, key: item.fileName },
      options.split,
      valGroups,
    );
  }
  const exportRoot = join(runDir, "export");
  const outDir = join(exportRoot, options.format);
  const staging = join(exportRoot, `.${options.format}.partial`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });

  const coco: Record<string, { images: unknown[]; annotations: unknown[] }> = {};
  const files: string[] = [];
  for (const item of items) {
    const mask = await readMask(runDir, item.source);
    if (!mask) {
      throw new UserError(
        `${item.source} has no alpha channel nor a .mask.png: the export needs the person's mask; render with render.transparent: true or outputs.mask: true`,
      );
    }
    const area = maskArea(mask);
    const bbox = maskBbox(mask);
    await placeImage(join(runDir, item.source), join(staging, "images", item.split, item.fileName));
    if (options.format === "coco") {
      coco[item.split] ??= { images: [], annotations: [] };
      const split = coco[item.split]!;
      split.images.push({
        id: item.id,
        file_name: item.fileName,
        width: item.image.width,
        height: item.image.height,
        character: item.character,
        clip: item.image.clip,
        view: item.image.view,
        frame: item.image.frame,
      });
      split.annotations.push({
        id: item.id,
        image_id: item.id,
        category_id: 1,
        iscrowd: 0,
        keypoints: item.annotation.keypoints,
        num_keypoints: item.annotation.num_keypoints,
        area,
        bbox,
        segmentation: encodeRle(mask),
      });
    } else {
      const label = join(staging, "labels", item.split, item.fileName.replace(/\.[^./]+$/, ".txt"));
      await mkdir(dirname(label), { recursive: true });
      await writeFile(label, area > 0 ? yoloLine(item, bbox) : "");
    }
  }
  const splits = [...new Set(items.map((i) => i.split))].sort(); // train, val
  if (options.format === "coco") {
    for (const split of splits) {
      const relpath = `annotations/person_keypoints_${split}.json`;
      await mkdir(join(staging, "annotations"), { recursive: true });
      await writeFile(
        join(staging, relpath),
        JSON.stringify({
          info: { description: `posefactory export of ${posix.basename(runDir)}`, version: "1" },
          licenses: [],
          categories,
          ...coco[split],
        }),
      );
      files.push(relpath);
    }
  } else {
    const data = {
      path: outDir,
      train: "images/train",
      val: splits.includes("val") ? "images/val" : "images/train",
      kpt_shape: [17, 3],
      flip_idx: COCO_FLIP_INDEX,
      names: { 0: "person" },
    };
    await writeFile(join(staging, "data.yaml"), stringify(data, { flow: false }));
    files.push("data.yaml");
  }
  await rm(outDir, { recursive: true, force: true });
  await rename(staging, outDir);
  const summary: ExportResult["splits"] = {};
  for (const split of splits) {
    const own = items.filter((i) => i.split === split);
    summary[split] = { images: own.length, characters: [...new Set(own.map((i) => i.character))] };
  }
  return { outDir, format: options.format, splits: summary, files };
}
