/**
 * The one wrapper around Chromium (playwright-core). Everything the page loads comes from a
 * tiny HTTP server on 127.0.0.1 that serves only the folders it was given; every other
 * request (tasks-vision posts telemetry, Chrome phones home) is aborted, so detection runs
 * the same with or without internet.
 */
import { createReadStream, existsSync } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { extname, join, resolve, sep } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { UserError } from "../errors.js";
import type { Logger } from "../log.js";

export type { Page };

/** Flags that keep headless Chromium quiet, offline-safe and CPU-only (NOTES.md, MediaPipe). */
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const CANDIDATES: Record<string, string[]> = {
  linux: [
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
    "/snap/bin/chromium",
  ],
  darwin: [
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
  ],
  win32: [
    "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
    "C:\\Program Files (x86)\\Google\\Chrome\\Application\\chrome.exe",
  ],
};

export function browserInstallHint(platform: NodeJS.Platform = process.platform): string {
  if (platform === "darwin") return "brew install --cask chromium (or install Google Chrome)";
  if (platform === "win32") return "install Google Chrome from https://www.google.com/chrome/";
  return "sudo apt-get install chromium (Debian/Ubuntu), or install Google Chrome";
}

/** Finds Chrome/Chromium: detect.browser, then the usual install locations. */
export function findBrowser(
  configured?: string,
  platform: NodeJS.Platform = process.platform,
): string {
  if (configured) {
    if (existsSync(configured)) return configured;
    throw new UserError(
      `detect.browser: ${configured} does not exist. Fix the path, remove the key to search the usual places, or install one: ${browserInstallHint(platform)}`,
    );
  }
  const found = (CANDIDATES[platform] ?? []).find((path) => existsSync(path));
  if (found) return found;
  throw new UserError(
    `The web pose detector needs Chrome or Chromium and none was found. Install it (${browserInstallHint(platform)}), or set detect.browser to its executable`,
  );
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".svg": "image/svg+xml",
  ".css": "text/css",
  ".task": "application/octet-stream",
};

export interface StaticRoutes {
  /** URL prefix ("/tv/") -> folder, or exact path ("/model.task") -> file. */
  folders?: Record<string, string>;
  files?: Record<string, string>;
  /** Exact path -> inline content (the page itself). */
  inline?: Record<string, { body: string; type: string }>;
}

export interface LocalServer {
  origin: string;
  close(): Promise<void>;
}

/** Serves only the given files and folders on 127.0.0.1, on a random free port. */
export async function startLocalServer(routes: StaticRoutes): Promise<LocalServer> {
  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
      const inline = routes.inline?.[path];
      if (inline) {
        res.writeHead(200, { "content-type": inline.type, "cache-control": "no-store" });
        res.end(inline.body);
        return;
      }
      let file = routes.files?.[path];
      if (!file) {
        for (const [prefix, folder] of Object.entries(routes.folders ?? {})) {
          if (!path.startsWith(prefix)) continue;
          const root = resolve(folder);
          const candidate = resolve(root, path.slice(prefix.length));
          // No escaping the folder with ../
          if (candidate === root || candidate.startsWith(root + sep)) file = candidate;
          break;
        }
      }
      const info = file ? await stat(file).catch(() => undefined) : undefined;
      if (!file || !info?.isFile()) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, {
        "content-type": CONTENT_TYPES[extname(file).toLowerCase()] ?? "application/octet-stream",
        "content-length": info.size,
      });
      createReadStream(file).pipe(res);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((done, fail) => {
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => done());
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

export interface BrowserSession {
  page: Page;
  context: BrowserContext;
  /** Another page (tab) of the same browser, its errors collected like the first one's. */
  newPage(): Promise<Page>;
  executablePath: string;
  /** Messages the page logged at level "error", and uncaught page errors. */
  errors: string[];
  close(): Promise<void>;
}

export interface LaunchOptions {
  executablePath?: string;
  logger: Logger;
  /** Only requests to this origin are let through. */
  allowOrigin: string;
  viewport?: { width: number; height: number };
}

/** One headless Chromium with a fresh profile, offline except for `allowOrigin`. */
export async function launchBrowser(options: LaunchOptions): Promise<BrowserSession> {
  const executablePath = findBrowser(options.executablePath);
  const userDataDir = await mkdtemp(join(tmpdir(), "posefactory-chromium-"));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: options.viewport ?? { width: 1280, height: 900 },
    });
  } catch (error) {
    await rm(userDataDir, { recursive: true, force: true });
    throw new UserError(
      `Could not start ${executablePath}: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}. Reinstall it (${browserInstallHint()}) or set detect.browser`,
      { cause: error },
    );
  }
  const allowed = `${options.allowOrigin}/`;
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(allowed) || url.startsWith("data:") || url.startsWith("blob:"))
      return route.continue();
    options.logger.trace({ url }, "blocked browser request");
    return route.abort();
  });
  const errors: string[] = [];
  const watch = (page: Page): Page => {
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
      options.logger.trace({ type: message.type(), text: message.text() }, "browser console");
    });
    page.on("pageerror", (error) => errors.push(error.message));
    return page;
  };
  const page = watch(context.pages()[0] ?? (await context.newPage()));
  return {
    page,
    context,
    newPage: async () => watch(await context.newPage()),
    executablePath,
    errors,
    close: async () => {
      await context.close().catch(() => undefined);
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}
