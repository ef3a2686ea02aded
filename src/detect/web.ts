/**
 * The web detector backend: MediaPipe tasks-vision's PoseLandmarker (CPU delegate, IMAGE mode)
 * inside headless Chromium. One browser serves the whole batch with one landmarker per page,
 * as many pages as cores: each page is its own renderer process, and the CPU delegate runs a
 * landmarker on one thread, so N pages detect N images at once. Each page takes two images at
 * a time, so the next one's fetch and PNG decode (createImageBitmap decodes off the page's main
 * thread) overlap the current detection. IMAGE mode keeps no state between images, so which
 * page detects an image does not change its result. Each image gets one detection JSON
 * (schema.ts `detectionSchema`) under detections/, mirroring renders/.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { UserError } from "../errors.js";
import type { Logger } from "../log.js";
import { detectionPathOf, RunFiles } from "../run/paths.js";
import { launchBrowser, type Page, startLocalServer } from "./browser.js";
import type { ResolvedModel } from "./model.js";
import { type Detection, detectionSchema } from "./schema.js";

export interface WebDetectorOptions {
  model: ResolvedModel;
  /** Folder the image paths are relative to (the run folder). */
  root: string;
  browser?: string;
  minPoseDetectionConfidence?: number;
  minPosePresenceConfidence?: number;
  /** Landmarkers (pages) working at once; default: one per core, at most MAX_LANDMARKERS. */
  landmarkers?: number;
  logger: Logger;
}

/** Past a handful, more pages only cost memory (each loads its own wasm and model). */
export const MAX_LANDMARKERS = 8;
/** Images handed to one page at once: one detecting, the next being fetched and decoded. */
const IMAGES_PER_PAGE = 2;

export function defaultLandmarkers(): number {
  return Math.max(1, Math.min(MAX_LANDMARKERS, availableParallelism()));
}

export interface WebDetector {
  /**
   * `image` is relative to the root: renders/<character>/<clip>/<view>/f0001.png. Calls may
   * overlap: keep up to `parallelism` in flight to use every landmarker.
   */
  detect(image: string): Promise<Detection>;
  /** Landmarkers (pages) in use. */
  landmarkers: number;
  /** How many detect() calls to keep in flight. */
  parallelism: number;
  /** Seconds spent starting Chromium and loading wasm + model: not per-image cost. */
  startup: { browserSeconds: number; modelSeconds: number };
  executablePath: string;
  close(): Promise<void>;
}

interface PageResult {
  width: number;
  height: number;
  seconds: number;
  poses: {
    landmarks: { x: number; y: number; z: number; visibility: number; presence: number | null }[];
    worldLandmarks: {
      x: number;
      y: number;
      z: number;
      visibility: number;
      presence: number | null;
    }[];
  }[];
}

/** The page: loads tasks-vision as an ES module and exposes init/detect to playwright. */
const PAGE_HTML = `<!doctype html>
<meta charset="utf-8">
<title>posefactory detector</title>
<script type="module">
import { FilesetResolver, PoseLandmarker } from "/tasks-vision/vision_bundle.mjs";
let landmarker;
const plain = (list) => list.map((p) => ({
  x: p.x, y: p.y, z: p.z,
  visibility: p.visibility ?? 0,
  presence: typeof p.presence === "number" ? p.presence : null,
}));
window.posefactoryInit = async (options) => {
  const fileset = await FilesetResolver.forVisionTasks(location.origin + "/tasks-vision/wasm");
  landmarker = await PoseLandmarker.createFromOptions(fileset, {
    baseOptions: { modelAssetPath: location.origin + "/model.task", delegate: "CPU" },
    runningMode: "IMAGE",
    numPoses: 1,
    minPoseDetectionConfidence: options.minPoseDetectionConfidence,
    minPosePresenceConfidence: options.minPosePresenceConfidence,
  });
};
window.posefactoryDetect = async (url) => {
  const response = await fetch(url);
  if (!response.ok) throw new Error("HTTP " + response.status + " for " + url);
  const bitmap = await createImageBitmap(await response.blob());
  // Renders are often transparent: flatten them over mid-grey, as the python backend does, so
  // the model never sees undefined colour behind alpha = 0.
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const g = canvas.getContext("2d");
  g.fillStyle = "#808080";
  g.fillRect(0, 0, bitmap.width, bitmap.height);
  g.drawImage(bitmap, 0, 0);
  const started = performance.now();
  const result = landmarker.detect(canvas);
  const seconds = (performance.now() - started) / 1000;
  const out = {
    width: bitmap.width, height: bitmap.height, seconds,
    poses: result.landmarks.map((landmarks, i) => ({
      landmarks: plain(landmarks),
      worldLandmarks: plain(result.worldLandmarks[i] ?? []),
    })),
  };
  bitmap.close();
  return out;
};
window.posefactoryLoaded = true;
</script>`;

function tasksVisionDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve("@mediapipe/tasks-vision"));
  } catch (error) {
    throw new UserError(
      "The npm package @mediapipe/tasks-vision is missing: reinstall posefactory (npm install)",
      {
        cause: error,
      },
    );
  }
}

const seconds = (since: number) => (performance.now() - since) / 1000;

export async function openWebDetector(options: WebDetectorOptions): Promise<WebDetector> {
  const { logger } = options;
  const server = await startLocalServer({
    folders: { "/tasks-vision/": tasksVisionDir(), "/files/": options.root },
    files: { "/model.task": options.model.path },
    inline: { "/index.html": { body: PAGE_HTML, type: "text/html; charset=utf-8" } },
  });
  const browserStarted = performance.now();
  let session: Awaited<ReturnType<typeof launchBrowser>>;
  try {
    session = await launchBrowser({
      executablePath: options.browser,
      logger,
      allowOrigin: server.origin,
    });
  } catch (error) {
    await server.close();
    throw error;
  }
  const close = async () => {
    await session.close();
    await server.close();
  };
  try {
    const count = Math.max(1, Math.floor(options.landmarkers ?? defaultLandmarkers()));
    const pages = [session.page];
    for (let i = 1; i < count; i++) pages.push(await session.newPage());
    await Promise.all(
      pages.map(async (page) => {
        await page.goto(`${server.origin}/index.html`);
        await page.waitForFunction(
          () => (window as { posefactoryLoaded?: boolean }).posefactoryLoaded === true,
        );
      }),
    );
    const browserSeconds = seconds(browserStarted);
    const modelStarted = performance.now();
    const initOptions = {
      minPoseDetectionConfidence: options.minPoseDetectionConfidence ?? 0.5,
      minPosePresenceConfidence: options.minPosePresenceConfidence ?? 0.5,
    };
    await Promise.all(
      pages.map((page) =>
        page.evaluate(
          (opts) =>
            (window as unknown as { posefactoryInit(o: unknown): Promise<void> }).posefactoryInit(
              opts,
            ),
          initOptions,
        ),
      ),
    );
    const modelSeconds = seconds(modelStarted);
    logger.debug(
      {
        browser: session.executablePath,
        model: options.model.path,
        landmarkers: pages.length,
        browserSeconds,
        modelSeconds,
      },
      "web pose detector ready",
    );
    const modelInfo = {
      name: options.model.name,
      version: options.model.version,
      sha256: options.model.sha256,
    };
    const pool = createPagePool(pages, IMAGES_PER_PAGE);
    return {
      startup: { browserSeconds, modelSeconds },
      executablePath: session.executablePath,
      landmarkers: pages.length,
      parallelism: pages.length * IMAGES_PER_PAGE,
      close,
      async detect(image: string): Promise<Detection> {
        const url = `${server.origin}/files/${image.split("/").map(encodeURIComponent).join("/")}`;
        const result = await pool.use((page) =>
          page.evaluate(
            (u) =>
              (
                window as unknown as { posefactoryDetect(u: string): Promise<unknown> }
              ).posefactoryDetect(u),
            url,
          ),
        );
        return toDetection(image, result as PageResult, modelInfo);
      },
    };
  } catch (error) {
    await close();
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(
      `MediaPipe failed to start in Chromium (model ${options.model.path}): ${message}`,
      {
        cause: error,
      },
    );
  }
}

interface PagePool {
  /** Runs `task` on the least busy page, waiting while every page has `perPage` tasks. */
  use<T>(task: (page: Page) => Promise<T>): Promise<T>;
}

function createPagePool(pages: Page[], perPage: number): PagePool {
  const busy = pages.map(() => 0);
  const waiting: (() => void)[] = [];
  const acquire = async (): Promise<number> => {
    for (;;) {
      let best = 0;
      for (let i = 1; i < pages.length; i++) if (busy[i]! < busy[best]!) best = i;
      if (busy[best]! < perPage) {
        busy[best]! += 1;
        return best;
      }
      await new Promise<void>((wake) => waiting.push(wake));
    }
  };
  return {
    async use(task) {
      const index = await acquire();
      try {
        return await task(pages[index]!);
      } finally {
        busy[index]! -= 1;
        waiting.shift()?.();
      }
    },
  };
}

function toDetection(image: string, result: PageResult, model: Detection["model"]): Detection {
  const poses = result.poses
    .filter((pose) => pose.landmarks.length === 33 && pose.worldLandmarks.length === 33)
    .map((pose) => ({
      landmarks: pose.landmarks.map((p) => ({
        x: p.x,
        y: p.y,
        z: p.z,
        px: p.x * result.width,
        py: p.y * result.height,
        visibility: p.visibility,
        // tasks-vision leaves presence unset for models without a presence output: then the
        // visibility score is the best stand-in we have.
        presence: p.presence ?? p.visibility,
      })),
      worldLandmarks: pose.worldLandmarks.map((p) => ({
        x: p.x,
        y: p.y,
        z: p.z,
        visibility: p.visibility,
        presence: p.presence ?? p.visibility,
      })),
    }));
  return {
    version: 1,
    image,
    width: result.width,
    height: result.height,
    backend: "web",
    model,
    found: poses.length > 0,
    poses,
    seconds: Math.max(0, result.seconds),
  };
}

/** renders/<c>/<clip>/<view>/f0001.png -> detections/<c>/<clip>/<view>/f0001.json */
export function detectionPathFor(image: string): string {
  return detectionPathOf(image);
}

/** Writes via a temp file so a killed run never leaves half a JSON behind. */
/** `root` = detections, or detections-<model> for a further model of detect.models. */
export async function writeDetection(
  runDir: string,
  detection: Detection,
  root: string = RunFiles.detections,
): Promise<string> {
  const relative = inRoot(detectionPathFor(detection.image), root);
  const target = join(runDir, relative);
  await mkdir(dirname(target), { recursive: true });
  const temp = `${target}.tmp`;
  await writeFile(temp, `${JSON.stringify(detectionSchema.parse(detection))}\n`);
  await rename(temp, target);
  return relative;
}

/** detections/<c>/... -> <root>/<c>/... */
function inRoot(relative: string, root: string): string {
  return root === RunFiles.detections ? relative : relative.replace(/^[^/]+/, root);
}

/** A previous detection of this image with this exact model, if any (for resuming). */
export async function readExistingDetection(
  runDir: string,
  image: string,
  root: string = RunFiles.detections,
): Promise<Detection | undefined> {
  try {
    const raw = JSON.parse(
      await readFile(join(runDir, inRoot(detectionPathFor(image), root)), "utf8"),
    );
    const parsed = detectionSchema.safeParse(raw);
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
