/**
 * Pictures of an evaluation: per-image overlays (ground-truth skeleton and detected skeleton in
 * two colours, drawn as SVG and composited with sharp), a contact sheet per character (views x
 * frames), and one self-contained report.html with relative links, so the run folder can be
 * zipped, moved or opened from a file manager.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { basename, dirname, join, posix } from "node:path";
import sharp, { type OverlayOptions } from "sharp";
import { annotationsPath, RunFiles, rendersDir } from "../run/paths.js";
import type { Evaluation, ImageRecord, PckStats, Summary } from "./evaluate.js";
import { COCO_KEYPOINTS, MEDIAPIPE_CONNECTIONS } from "./landmarks.js";
import { annotationsSchema, type Detection, detectionSchema } from "./schema.js";

export const GT_COLOR = "#16c45a";
export const DETECTION_COLOR = "#ff2d95";
const THUMB_WIDTH = 136;
const SHEET_CELL = 160;
const SHEET_MAX_COLUMNS = 12;

type Point = [number, number, number];

/** Left wrist and left ankle (MediaPipe indices): labelled "L" on the overlays. */
const LEFT_MARKS = [15, 27];

export interface OverlayInput {
  width: number;
  height: number;
  /** Ground truth, 33 x [x, y, v] (v = 0 outside the image). */
  gt?: Point[];
  /** Detected landmarks in pixels with their visibility. */
  detected?: { px: number; py: number; visibility: number }[];
}

/** The overlay drawing as SVG, same size as the image. Occluded GT joints are hollow. */
export function renderOverlaySvg(input: OverlayInput): string {
  const scale = Math.max(input.width, input.height) / 256;
  const line = (1.6 * scale).toFixed(2);
  const radius = (2.2 * scale).toFixed(2);
  const parts: string[] = [];
  const skeleton = (
    points: { x: number; y: number; on: boolean }[],
    color: string,
    dash: string,
  ) => {
    for (const [a, b] of MEDIAPIPE_CONNECTIONS) {
      const p = points[a];
      const q = points[b];
      if (!p?.on || !q?.on) continue;
      parts.push(
        `<line x1="${p.x.toFixed(1)}" y1="${p.y.toFixed(1)}" x2="${q.x.toFixed(1)}" y2="${q.y.toFixed(1)}" stroke="${color}" stroke-width="${line}" stroke-linecap="round"${dash} opacity="0.9"/>`,
      );
    }
  };
  if (input.gt) {
    const points = input.gt.map(([x, y, v]) => ({ x, y, on: v > 0 }));
    skeleton(points, GT_COLOR, "");
    input.gt.forEach(([x, y, v]) => {
      if (v <= 0) return;
      const fill = v === 2 ? GT_COLOR : "none";
      parts.push(
        `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${radius}" fill="${fill}" stroke="${GT_COLOR}" stroke-width="${(0.8 * scale).toFixed(2)}"/>`,
      );
    });
  }
  // Skeletons are symmetric: mark the left wrist and ankle of each so a left/right swap shows.
  const mark = (x: number, y: number, color: string, dy: number) =>
    parts.push(
      `<text x="${(x + 3 * scale).toFixed(1)}" y="${(y + dy * scale).toFixed(1)}" font-family="sans-serif" font-weight="bold" font-size="${(9 * scale).toFixed(1)}" fill="${color}" stroke="#000" stroke-width="${(0.35 * scale).toFixed(2)}">L</text>`,
    );
  for (const i of LEFT_MARKS) {
    const g = input.gt?.[i];
    if (g && g[2] > 0) mark(g[0], g[1], GT_COLOR, -3);
    const d = input.detected?.[i];
    if (d) mark(d.px, d.py, DETECTION_COLOR, 10);
  }
  if (input.detected) {
    const points = input.detected.map((p) => ({ x: p.px, y: p.py, on: true }));
    skeleton(
      points,
      DETECTION_COLOR,
      ` stroke-dasharray="${(4 * scale).toFixed(1)} ${(2 * scale).toFixed(1)}"`,
    );
    for (const p of input.detected) {
      parts.push(
        `<circle cx="${p.px.toFixed(1)}" cy="${p.py.toFixed(1)}" r="${radius}" fill="${DETECTION_COLOR}" opacity="${(0.35 + 0.65 * Math.min(1, Math.max(0, p.visibility))).toFixed(2)}"/>`,
      );
    }
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${input.width}" height="${input.height}" viewBox="0 0 ${input.width} ${input.height}">${parts.join("")}</svg>`;
}

/** Composites the overlay onto the image; transparent renders get a neutral background. */
export async function writeOverlay(
  imagePath: string,
  input: Omit<OverlayInput, "width" | "height">,
  out: string,
): Promise<void> {
  const meta = await sharp(imagePath).metadata();
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  const svg = renderOverlaySvg({ ...input, width, height });
  await mkdir(dirname(out), { recursive: true });
  await sharp(imagePath)
    .flatten({ background: "#808080" })
    .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
    .png()
    .toFile(out);
}

async function mapLimit<T, R>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  });
  await Promise.all(workers);
  return results;
}

export interface ReportResult {
  html: string;
  overlays: number;
  sheets: string[];
}

interface ImageAssets {
  record: ImageRecord;
  overlay: string;
  thumb: string;
}

const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );
const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
const overlayPathFor = (image: string) => image.replace(/^renders\//, "report/overlays/");
const thumbPathFor = (image: string) =>
  image.replace(/^renders\//, "report/thumbs/").replace(/\.[^./]+$/, ".jpg");

/** Reads ground truth (per character's annotations.json) for every evaluated image. */
async function loadGroundTruth(
  runDir: string,
  evaluation: Evaluation,
): Promise<Map<string, Point[]>> {
  const out = new Map<string, Point[]>();
  const characters = [...new Set(evaluation.images.map((i) => i.character))];
  for (const character of characters) {
    const raw = JSON.parse(await readFile(join(runDir, annotationsPath(character)), "utf8"));
    const annotations = annotationsSchema.parse(raw);
    const byId = new Map(annotations.annotations.map((a) => [a.image_id, a]));
    for (const image of annotations.images) {
      const a = byId.get(image.id);
      if (!a) continue;
      const flat = a.keypoints_mediapipe;
      out.set(
        posix.join(rendersDir(character), image.file_name),
        Array.from(
          { length: 33 },
          (_, i): Point => [flat[i * 3]!, flat[i * 3 + 1]!, flat[i * 3 + 2]!],
        ),
      );
    }
  }
  return out;
}

async function readDetection(runDir: string, path: string): Promise<Detection | undefined> {
  try {
    const parsed = detectionSchema.safeParse(
      JSON.parse(await readFile(join(runDir, path), "utf8")),
    );
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Overlays, thumbnails, contact sheets and report.html for an evaluated run. */
export async function buildReport(
  runDir: string,
  evaluation: Evaluation,
  options: { title?: string; concurrency?: number } = {},
): Promise<ReportResult> {
  const gt = await loadGroundTruth(runDir, evaluation);
  const assets = await mapLimit(
    evaluation.images,
    options.concurrency ?? 2,
    async (record): Promise<ImageAssets> => {
      const detection = await readDetection(runDir, record.detection);
      const overlay = overlayPathFor(record.image);
      const thumb = thumbPathFor(record.image);
      await writeOverlay(
        join(runDir, record.image),
        {
          gt: gt.get(record.image),
          detected: detection?.found ? detection.poses[0]?.landmarks : undefined,
        },
        join(runDir, overlay),
      );
      await mkdir(dirname(join(runDir, thumb)), { recursive: true });
      await sharp(join(runDir, overlay))
        .resize({ width: THUMB_WIDTH })
        .jpeg({ quality: 82 })
        .toFile(join(runDir, thumb));
      return { record, overlay, thumb };
    },
  );
  const sheets = await writeContactSheets(runDir, assets);
  const html = renderHtml(evaluation, assets, sheets, options.title ?? basename(runDir));
  await writeFile(join(runDir, RunFiles.report), html);
  return { html: join(runDir, RunFiles.report), overlays: assets.length, sheets };
}

const viewOrder = (view: string) => {
  const m = /^az(-?\d+)_el(-?\d+)/.exec(view);
  return m ? Number(m[2]) * 1000 + Number(m[1]) : Number.MAX_SAFE_INTEGER;
};

/** One JPEG per character: a row per view, a column per (clip, frame), sampled to at most 12. */
async function writeContactSheets(runDir: string, assets: ImageAssets[]): Promise<string[]> {
  const out: string[] = [];
  const characters = [...new Set(assets.map((a) => a.record.character))];
  for (const character of characters) {
    const own = assets.filter((a) => a.record.character === character);
    const views = [...new Set(own.map((a) => a.record.view))].sort(
      (a, b) => viewOrder(a) - viewOrder(b) || a.localeCompare(b),
    );
    let columns = [...new Set(own.map((a) => `${a.record.clip}\u0000${a.record.frame}`))];
    if (columns.length > SHEET_MAX_COLUMNS) {
      const step = columns.length / SHEET_MAX_COLUMNS;
      columns = Array.from({ length: SHEET_MAX_COLUMNS }, (_, i) => columns[Math.floor(i * step)]!);
    }
    const cells: OverlayOptions[] = [];
    for (const [row, view] of views.entries()) {
      for (const [col, key] of columns.entries()) {
        const asset = own.find(
          (a) => a.record.view === view && `${a.record.clip}\u0000${a.record.frame}` === key,
        );
        if (!asset) continue;
        const cell = await sharp(join(runDir, asset.overlay))
          .resize(SHEET_CELL, SHEET_CELL, { fit: "contain", background: "#202020" })
          .png()
          .toBuffer();
        cells.push({ input: cell, left: col * SHEET_CELL, top: row * SHEET_CELL });
      }
    }
    const path = `report/sheets/${character}.jpg`;
    await mkdir(join(runDir, RunFiles.reportDir, "sheets"), { recursive: true });
    await sharp({
      create: {
        width: Math.max(1, columns.length) * SHEET_CELL,
        height: Math.max(1, views.length) * SHEET_CELL,
        channels: 3,
        background: "#202020",
      },
    })
      .composite(cells)
      .jpeg({ quality: 85 })
      .toFile(join(runDir, path));
    out.push(path);
  }
  return out;
}

/** Bar chart of PCK@0.1 per view (bars) with the detection rate (dots), as inline SVG. */
export function renderViewChart(perView: Record<string, Summary>): string {
  const views = Object.keys(perView).sort(
    (a, b) => viewOrder(a) - viewOrder(b) || a.localeCompare(b),
  );
  const barW = 44;
  const gap = 14;
  const left = 44;
  const top = 16;
  const h = 180;
  const width = left + views.length * (barW + gap) + 10;
  const height = top + h + 52;
  const y = (v: number) => top + h - v * h;
  const parts: string[] = [];
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(
      `<line x1="${left}" x2="${width - 6}" y1="${y(tick)}" y2="${y(tick)}" stroke="#ddd"/><text x="${left - 6}" y="${y(tick) + 4}" text-anchor="end" font-size="11" fill="#555">${tick * 100}%</text>`,
    );
  }
  views.forEach((view, i) => {
    const s = perView[view]!;
    const x = left + gap / 2 + i * (barW + gap);
    const v = s.visible.pck["0.1"];
    parts.push(
      `<rect x="${x}" y="${y(v)}" width="${barW}" height="${(v * h).toFixed(1)}" fill="#3b82f6"><title>${escapeHtml(view)}: PCK@0.1 ${pct(v)}, found ${pct(s.detectionRate)}</title></rect>`,
      v > 0.15
        ? `<text x="${x + barW / 2}" y="${y(v) + 14}" text-anchor="middle" font-size="11" fill="#fff">${Math.round(v * 100)}</text>`
        : `<text x="${x + barW / 2}" y="${y(v) - 4}" text-anchor="middle" font-size="11" fill="#1e3a8a">${Math.round(v * 100)}</text>`,
      `<circle cx="${x + barW / 2}" cy="${y(s.detectionRate)}" r="4" fill="#f59e0b" stroke="#fff"/>`,
      `<text x="${x + barW / 2}" y="${top + h + 16}" text-anchor="middle" font-size="11" fill="#333">${escapeHtml(view.replace(/_el.*/, ""))}</text>`,
      `<text x="${x + barW / 2}" y="${top + h + 29}" text-anchor="middle" font-size="10" fill="#777">${escapeHtml(view.replace(/^[^_]*_?/, ""))}</text>`,
    );
  });
  parts.push(
    `<rect x="${left}" y="${height - 14}" width="10" height="10" fill="#3b82f6"/><text x="${left + 14}" y="${height - 5}" font-size="11">PCK@0.1 (visible joints)</text>`,
    `<circle cx="${left + 190}" cy="${height - 9}" r="4" fill="#f59e0b"/><text x="${left + 198}" y="${height - 5}" font-size="11">detection rate</text>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="PCK per view" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join("")}</svg>`;
}

function summaryRow(name: string, s: Summary): string {
  const cell = (v: string, cls = "") => `<td${cls ? ` class="${cls}"` : ""}>${v}</td>`;
  const quality = (v: number) => (v >= 0.8 ? "good" : v >= 0.5 ? "mid" : "bad");
  const p = s.visible.pck;
  return `<tr><th>${escapeHtml(name)}</th>${[
    cell(String(s.images)),
    cell(pct(s.detectionRate), quality(s.detectionRate)),
    cell(String(s.leftRightSwapped), s.leftRightSwapped > 0 ? "mid" : ""),
    cell(pct(p["0.05"]), quality(p["0.05"])),
    cell(pct(p["0.1"]), quality(p["0.1"])),
    cell(pct(p["0.2"]), quality(p["0.2"])),
    cell(pct(s["pckTorso@0.2"]), quality(s["pckTorso@0.2"])),
    cell(s.meanOks === null ? "–" : s.meanOks.toFixed(3)),
    cell(s.AP === null ? "–" : s.AP.toFixed(3)),
    cell(s.AP50 === null ? "–" : s.AP50.toFixed(3)),
    cell(s.AR === null ? "–" : s.AR.toFixed(3)),
    cell(s.mpjpeMm === null ? "–" : s.mpjpeMm.toFixed(0)),
    cell(s.paMpjpeMm === null ? "–" : s.paMpjpeMm.toFixed(0)),
    cell(s.visible.meanErrorPx === null ? "–" : s.visible.meanErrorPx.toFixed(1)),
    cell(
      s.occluded.joints === 0
        ? "–"
        : `${pct(s.occluded.pck["0.1"])} <small>(${s.occluded.joints})</small>`,
    ),
  ].join("")}</tr>`;
}

const SUMMARY_HEAD =
  "<tr><th></th><th>images</th><th>pose found</th><th>L/R swapped</th><th>PCK@0.05</th><th>PCK@0.1</th><th>PCK@0.2</th><th>torso PCK@0.2</th><th>mean OKS</th><th>AP</th><th>AP50</th><th>AR</th><th>MPJPE mm</th><th>PA-MPJPE mm</th><th>mean error px</th><th>occluded PCK@0.1 <small>(joints)</small></th></tr>";

function jointRow(name: string, stats: { visible: PckStats; occluded: PckStats }): string {
  const v = stats.visible;
  return `<tr><th>${escapeHtml(name)}</th><td>${v.joints}</td><td>${pct(v.pck["0.05"])}</td><td>${pct(v.pck["0.1"])}</td><td>${pct(v.pck["0.2"])}</td><td>${v.meanErrorPx === null ? "–" : v.meanErrorPx.toFixed(1)}</td><td>${stats.occluded.joints === 0 ? "–" : `${pct(stats.occluded.pck["0.1"])} <small>(${stats.occluded.joints})</small>`}</td></tr>`;
}

/** One row per model when the run holds detections of several (detect.models). */
function renderModels(evaluation: Evaluation): string {
  const models = Object.entries(evaluation.models ?? {});
  if (models.length < 2) return "";
  return `<h2>Models (same images)</h2><table id="models">${SUMMARY_HEAD.replace("<th></th>", "<th>model</th>")}${models
    .map(([name, m]) => summaryRow(name, m.overall))
    .join("")}</table>`;
}

const VARIETY_MAX = 12;

/** A strip of images, one per distinct (background, light level, occlusion) as drawn. */
function renderVariety(assets: ImageAssets[]): string {
  const keyOf = (a: ImageAssets) => {
    const c = a.record.conditions ?? {};
    return [c.background, c.lightLevel, c.occlusion].filter(Boolean).join(" · ");
  };
  const drawn = assets.filter((a) => keyOf(a) !== "");
  if (drawn.length === 0) return "";
  const picked: ImageAssets[] = [];
  const seen = new Set<string>();
  for (const a of drawn) {
    if (picked.length >= VARIETY_MAX) break;
    if (seen.has(keyOf(a))) continue;
    seen.add(keyOf(a));
    picked.push(a);
  }
  for (const a of drawn) {
    if (picked.length >= VARIETY_MAX) break;
    if (!picked.includes(a)) picked.push(a);
  }
  const figures = picked.map(
    (a) =>
      `<figure><a href="${escapeHtml(a.overlay)}"><img loading="lazy" src="${escapeHtml(a.thumb)}" alt="${escapeHtml(a.record.image)}"></a><figcaption>${escapeHtml(keyOf(a))}</figcaption></figure>`,
  );
  return `<h2>Variety (backgrounds, light, occluders)</h2><div id="variety" class="strip">${figures.join("")}</div>`;
}

/** Detection quality by condition (camera distance, and the scene's drawn values). */
function renderConditions(evaluation: Evaluation): string {
  const conditions = Object.entries(evaluation.perCondition ?? {});
  if (conditions.length === 0) return "";
  return `<h2>Per condition</h2>${conditions
    .map(
      ([name, values]) =>
        `<h4>${escapeHtml(name)}</h4><table class="condition">${SUMMARY_HEAD.replace("<th></th>", `<th>${escapeHtml(name)}</th>`)}${Object.entries(
          values,
        )
          .map(([value, s]) => summaryRow(value, s))
          .join("")}</table>`,
    )
    .join("")}`;
}

function renderHtml(
  evaluation: Evaluation,
  assets: ImageAssets[],
  sheets: string[],
  title: string,
): string {
  const worstFirst = Object.entries(evaluation.perView).sort(
    ([, a], [, b]) =>
      a.visible.pck["0.1"] - b.visible.pck["0.1"] || a.detectionRate - b.detectionRate,
  );
  const galleries = [...new Set(assets.map((a) => a.record.character))].map((character) => {
    const own = assets.filter((a) => a.record.character === character);
    const views = [...new Set(own.map((a) => a.record.view))].sort(
      (a, b) => viewOrder(a) - viewOrder(b) || a.localeCompare(b),
    );
    const frames = [...new Set(own.map((a) => `${a.record.clip}\u0000${a.record.frame}`))];
    // A grid like the contact sheet: a column per view, a row per (clip, frame).
    const head = `<tr><th></th>${views.map((v) => `<th>${escapeHtml(v)}</th>`).join("")}</tr>`;
    const rows = frames.map((key) => {
      const [clip, frame] = key.split("\u0000");
      const cells = views.map((view) => {
        const a = own.find(
          (x) => x.record.view === view && `${x.record.clip}\u0000${x.record.frame}` === key,
        );
        if (!a) return "<td></td>";
        const r = a.record;
        const score = r.found ? `PCK@.1 ${pct(r.visible.pck["0.1"])}` : "no pose";
        const flags = `${r.found ? "" : " miss"}${r.leftRightSwapped ? " swap" : ""}`;
        const caption = `${score}${r.leftRightSwapped ? " · L/R swapped" : ""}`;
        return `<td><a class="thumb${flags}" href="${escapeHtml(a.overlay)}" title="${escapeHtml(`${r.image}: ${caption}`)}"><img loading="lazy" src="${escapeHtml(a.thumb)}" alt="${escapeHtml(`${view} ${clip} frame ${frame}`)}"><span>${escapeHtml(caption)}</span></a></td>`;
      });
      return `<tr><th>${escapeHtml(clip ?? "")}<br><small>frame ${escapeHtml(frame ?? "")}</small></th>${cells.join("")}</tr>`;
    });
    const sheet = sheets.find((s) => s === `report/sheets/${character}.jpg`);
    return `<section><h3>${escapeHtml(character)}</h3>${sheet ? `<p><a href="${escapeHtml(sheet)}">contact sheet (views × frames)</a></p>` : ""}<div class="scroll"><table class="grid">${head}${rows.join("")}</table></div></section>`;
  });
  const definitions = Object.entries(evaluation.definitions)
    .map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`)
    .join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>posefactory report: ${escapeHtml(title)}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1f2937;max-width:1400px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #e5e7eb;padding-bottom:4px}
h3{font-size:16px;margin:18px 0 6px}h4{font-size:13px;margin:10px 0 4px;color:#374151}
.meta{color:#6b7280}table{border-collapse:collapse;margin:6px 0}th,td{padding:4px 10px;border-bottom:1px solid #eee;text-align:right}
th:first-child{text-align:left}thead th,tr:first-child th{background:#f3f4f6;font-weight:600}
td.good{background:#dcfce7}td.mid{background:#fef9c3}td.bad{background:#fee2e2}
.legend span{display:inline-block;width:22px;height:4px;vertical-align:middle;margin:0 6px 0 14px}
.scroll{overflow-x:auto}table.grid td,table.grid th{border:0;padding:3px;vertical-align:top;text-align:center;font-size:12px}
.thumb{display:inline-block;text-decoration:none;color:#374151;border:2px solid #e5e7eb;border-radius:4px;width:${THUMB_WIDTH}px}
.thumb img{display:block;width:100%}.thumb span{display:block;font-size:11px;padding:2px 4px}.thumb.miss{border-color:#ef4444}.thumb.swap{border-color:#f59e0b}
.strip{display:flex;flex-wrap:wrap;gap:8px}.strip figure{margin:0;width:${THUMB_WIDTH}px;font-size:11px;color:#4b5563}.strip img{width:100%;display:block;border-radius:4px}
.cols{display:flex;flex-wrap:wrap;gap:32px;align-items:flex-start}dl{color:#4b5563;font-size:13px}dt{font-weight:600}dd{margin:0 0 6px 16px}
</style></head><body>
<h1>Pose detection report: ${escapeHtml(title)}</h1>
<p class="meta">${evaluation.overall.images} images · ${evaluation.overall.detected} with a pose · detector: ${escapeHtml(evaluation.detectors.join(", ") || "none")} · evaluated ${escapeHtml(evaluation.createdAt)}</p>
<p class="legend">Overlays: <span style="background:${GT_COLOR}"></span>ground truth (rig; hollow = occluded) <span style="background:${DETECTION_COLOR}"></span>MediaPipe detection (dashed) · “L” marks the left wrist and ankle · thumbnails framed red: no pose, amber: left/right swapped</p>
<h2>Summary</h2>
<table id="summary">${SUMMARY_HEAD}${summaryRow("overall", evaluation.overall)}${Object.entries(
    evaluation.perCharacter,
  )
    .map(([name, s]) => summaryRow(name, s))
    .join("")}</table>
${renderVariety(assets)}${renderModels(evaluation)}${renderConditions(evaluation)}<h2>Per view</h2>
<div class="cols"><div>${renderViewChart(evaluation.perView)}</div>
<table id="views">${SUMMARY_HEAD.replace("<th></th>", "<th>view (worst first)</th>")}${worstFirst.map(([v, s]) => summaryRow(v, s)).join("")}</table></div>
<h2>Per joint (COCO 17)</h2>
<table id="joints"><tr><th>joint</th><th>visible</th><th>PCK@0.05</th><th>PCK@0.1</th><th>PCK@0.2</th><th>mean error px</th><th>occluded PCK@0.1</th></tr>${COCO_KEYPOINTS.map(
    (name) => (evaluation.perJoint[name] ? jointRow(name, evaluation.perJoint[name]) : ""),
  ).join("")}</table>
${evaluation.warnings.length ? `<h2>Warnings</h2><ul>${evaluation.warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join("")}</ul>` : ""}
<h2>Images</h2>
${galleries.join("\n")}
<h2>Definitions</h2><dl>${definitions}</dl>
</body></html>
`;
}
