/**
 * Build dist/ once before the tests: a few tests spawn the built binary to check exit codes
 * and the separation of stdout and stderr, as a user's shell sees them.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export default function setup(): void {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  // tsc emits even when it finds type errors; those fail `npm run typecheck`, not the tests.
  const result = spawnSync(
    process.execPath,
    ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"],
    {
      cwd: root,
      encoding: "utf8",
    },
  );
  if (result.status !== 0 && result.status !== 2)
    throw new Error(`build failed:\n${result.stdout}${result.stderr}`);
  // Then bundle the CLI as `npm run build` does: the tests run the binary users get.
  const bundle = spawnSync(process.execPath, ["scripts/bundle.mjs"], {
    cwd: root,
    encoding: "utf8",
  });
  if (bundle.status !== 0) throw new Error(`bundling failed:\n${bundle.stdout}${bundle.stderr}`);
}
