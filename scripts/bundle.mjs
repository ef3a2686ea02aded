/**
 * Bundle the CLI with esbuild: dist/cli.js plus dist/chunks/, after tsc has written dist/
 * (the library, its types, and a plain dist/cli.js that this replaces).
 *
 * Why: Node 20 spends most of `posefactory --version` resolving and reading modules (zod, yaml
 * and our own ~100 files; the AWS SDK is hundreds more); one bundle reads a few files. Node's
 * module compile cache (module.enableCompileCache) would be the other way, but it needs Node
 * 22.1+ and the project supports Node 20. `splitting` keeps every dynamic import() a separate
 * chunk, so what commands import lazily (AWS SDK, ssh2, Chromium, sharp, ...) is still loaded
 * only when used. Packages with native code, worker files or data files of their own stay
 * outside the bundle and are loaded from node_modules as before (pino is bundled: log.ts
 * runs pino-pretty in-process, never a worker-thread transport).
 *
 *   node scripts/bundle.mjs        (npm run build runs it after tsc)
 */
import { chmodSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));

export const EXTERNAL = [
  "sharp", // native
  "ssh2", // native (optional cpu-features) and its own worker code
  "playwright-core", // its own files next to its code
  "@mediapipe/*", // wasm and model assets resolved from the package folder
  "s3rver", // tests only
];

rmSync(`${root}dist/chunks`, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: { cli: "src/cli.ts" },
  outdir: "dist",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  chunkNames: "chunks/[name]-[hash]",
  external: EXTERNAL,
  sourcemap: true,
  minifyWhitespace: true,
  minifySyntax: true,
  // CommonJS packages inside an ES module bundle call require(): give every file one.
  banner: {
    js: 'import { createRequire as __posefactoryRequire } from "node:module"; const require = __posefactoryRequire(import.meta.url);',
  },
  logLevel: "warning",
});
chmodSync(`${root}dist/cli.js`, 0o755); // the bin: runnable as ./dist/cli.js
