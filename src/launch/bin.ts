#!/usr/bin/env node
/**
 * The bin (dist/cli.cjs, built from this file by scripts/bundle.mjs): runs the bundled CLI,
 * dist/bin/cli.js and its chunks, through V8's code cache (code-cache.ts) kept in
 * `<cache>/code/` (cache-dir.ts). POSEFACTORY_CODE_CACHE=0 compiles from source and writes
 * nothing. A CommonJS script, not an ES module: Node starts one a few milliseconds sooner.
 */
import { join } from "node:path";
import { defaultCacheDir } from "../cache-dir.js";
import { codeCacheFolder, createBundleLoader } from "./code-cache.js";

/** A hash of every file under dist/bin/, set by scripts/bundle.mjs. */
declare const POSEFACTORY_BUILD_ID: string;
/** The chunks never cached (the AWS SDK's), relative to dist/bin/, set by scripts/bundle.mjs. */
declare const POSEFACTORY_UNCACHED_CHUNKS: string[];

const enabled = process.env.POSEFACTORY_CODE_CACHE !== "0";
const loader = createBundleLoader({
  cacheDir: enabled ? codeCacheFolder(defaultCacheDir(), POSEFACTORY_BUILD_ID) : undefined,
  uncached: POSEFACTORY_UNCACHED_CHUNKS,
});
// At exit, so the functions the command ran are compiled and go into the cache too.
process.on("exit", () => loader.saveCache());
const cli = loader.require(join(__dirname, "bin", "cli.js")) as { runMain(): void };
cli.runMain();
