/**
 * Bundle the CLI with esbuild, after tsc has written dist/ (the library, its types, and a plain
 * dist/cli.js, which stays: the unbundled CLI): the bin dist/cli.cjs (src/launch/bin.ts) and
 * the bundle it runs, dist/bin/cli.js + dist/bin/chunks/ (CommonJS: dist/bin/package.json).
 *
 * Why a bundle: Node 20 spends most of a start resolving and reading modules (zod, yaml and our
 * own ~100 files; the AWS SDK is hundreds more); one bundle reads a few files. `splitting`
 * keeps every dynamic import() a separate chunk, so what commands import lazily (AWS SDK,
 * ssh2, Chromium, sharp, ...) is still loaded only when used. Packages with native code,
 * worker files or data files of their own stay outside the bundle and are loaded from
 * node_modules as before (pino is bundled: log.ts runs pino-pretty in-process, never a
 * worker-thread transport).
 *
 * Why CommonJS: compiling the bundle's JavaScript is the largest part of what is left, and
 * Node 20 has no compile cache (module.enableCompileCache needs 22.1+). A script compiled with
 * vm.Script can be given V8's cached code, an ES module cannot (without a flag), so the bin
 * loads the chunks as scripts through src/launch/code-cache.ts. esbuild splits only ES module
 * output: the ESM chunks are built in memory, then each is turned into a CommonJS file
 * (import -> require, import() -> a require() in a promise, import.meta.url -> a parameter the
 * loader passes). esbuild cannot carry the first build's source maps through the second, so
 * the bundle has none (stack traces name dist/bin/ lines; tsc's dist/ has maps).
 *
 *   node scripts/bundle.mjs        (npm run build runs it after tsc)
 */
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { build, transform } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));

export const EXTERNAL = [
  "sharp", // native
  "ssh2", // native (optional cpu-features) and its own worker code
  "playwright-core", // its own files next to its code
  "@mediapipe/*", // wasm and model assets resolved from the package folder
  "s3rver", // tests only
];

/** The same name as IMPORT_META_URL in src/launch/code-cache.ts. */
const IMPORT_META_URL = "__posefactoryImportMetaUrl";
const BUNDLE = join(root, "dist", "bin");

/**
 * A hash of everything that decides how a config validates (our source and the locked
 * dependency versions): the key of the CLI's validated-config cache (src/config/cache.ts).
 */
function sourceId() {
  const hash = createHash("sha256");
  const files = readdirSync(join(root, "src"), { recursive: true })
    .filter((f) => f.endsWith(".ts"))
    .sort();
  for (const f of [...files.map((f) => join("src", f)), "package.json", "package-lock.json"])
    hash
      .update(f)
      .update("\0")
      .update(readFileSync(join(root, f)))
      .update("\0");
  return hash.digest("hex").slice(0, 16);
}

const esm = await build({
  absWorkingDir: root,
  entryPoints: { cli: "src/cli.ts" },
  outdir: BUNDLE,
  write: false,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  chunkNames: "chunks/[name]-[hash]",
  external: EXTERNAL,
  define: { POSEFACTORY_SOURCE_ID: JSON.stringify(sourceId()) },
  metafile: true,
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: "warning",
});

rmSync(BUNDLE, { recursive: true, force: true });
rmSync(join(root, "dist", "chunks"), { recursive: true, force: true }); // the former ESM bundle's
const buildId = createHash("sha256");
/**
 * Chunks holding the AWS SDK are not put in the code cache: they load only to transfer files,
 * where compiling them is small against the transfer, and writing their cache was a third of
 * what a first upload spent at exit (~25 of ~70 ms).
 */
const UNCACHED = Object.entries(esm.metafile.outputs)
  .filter(([, out]) =>
    Object.keys(out.inputs).some((i) => /node_modules\/@(aws-sdk|smithy|aws-crypto)\//.test(i)),
  )
  .map(([path]) => relative(BUNDLE, join(root, path)))
  .sort();
for (const file of esm.outputFiles.sort((a, b) => a.path.localeCompare(b.path))) {
  const name = relative(BUNDLE, file.path);
  // A hashbang (src/cli.ts has one) cannot stand inside the loader's function wrapper.
  const cjs = await transform(file.text.replace(/^#!.*\n/, ""), {
    format: "cjs",
    loader: "js",
    platform: "node",
    target: "node20",
    sourcefile: name,
    // import() of a chunk or an external package becomes require(): the loader handles both.
    supported: { "dynamic-import": false },
    define: { "import.meta.url": IMPORT_META_URL },
    minifyWhitespace: true,
    logLevel: "warning",
  });
  // Nothing of ES modules may be left: the loader runs these as plain scripts.
  if (/\bimport\.meta\b/.test(cjs.code)) throw new Error(`${name}: import.meta left in the bundle`);
  mkdirSync(dirname(file.path), { recursive: true });
  writeFileSync(file.path, cjs.code);
  buildId.update(name).update("\0").update(cjs.code).update("\0");
}
// The chunks are CommonJS whatever the root package.json says.
writeFileSync(join(BUNDLE, "package.json"), '{ "type": "commonjs" }\n');

await build({
  absWorkingDir: root,
  entryPoints: ["src/launch/bin.ts"],
  outfile: join(root, "dist", "cli.cjs"),
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node20",
  define: {
    POSEFACTORY_BUILD_ID: JSON.stringify(buildId.digest("hex").slice(0, 16)),
    POSEFACTORY_UNCACHED_CHUNKS: JSON.stringify(UNCACHED),
  },
  logLevel: "warning",
});
chmodSync(join(root, "dist", "cli.cjs"), 0o755); // the bin: runnable as ./dist/cli.cjs
