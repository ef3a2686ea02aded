/**
 * Build dist/ as `npm run build` does: tsc, then the bundled CLI (scripts/bundle.mjs), so the
 * tests and benches that spawn package.json's bin run what users install. Throws when either
 * step fails: a bin left unbuilt or stale would be measured or tested instead.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export function buildCli(): void {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  // tsc emits even when it finds type errors; those fail `npm run typecheck`, not the tests.
  const result = spawnSync(
    process.execPath,
    ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"],
    { cwd: root, encoding: "utf8" },
  );
  if (result.status !== 0 && result.status !== 2)
    throw new Error(`build failed:\n${result.stdout}${result.stderr}`);
  const bundle = spawnSync(process.execPath, ["scripts/bundle.mjs"], {
    cwd: root,
    encoding: "utf8",
  });
  if (bundle.status !== 0) throw new Error(`bundling failed:\n${bundle.stdout}${bundle.stderr}`);
}
