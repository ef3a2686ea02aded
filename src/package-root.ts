/**
 * The package's own files (package.json, blender/) wherever this code runs from: src/ under
 * tsx, dist/ built by tsc, or a chunk of the bundled CLI (dist/cli.js and dist/chunks/). Paths
 * relative to one module's URL break as soon as the module moves into a bundle, so every file
 * of the package is found from the package root instead: the first folder up from here that
 * holds both package.json and blender/render.py.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "blender", "render.py")))
      return dir;
    if (dirname(dir) === dir)
      throw new Error(`posefactory's package folder (with blender/) not found above ${start}`);
  }
}

export const PACKAGE_ROOT = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

/** A path inside the package: packagePath("blender", "render.py"). */
export function packagePath(...segments: string[]): string {
  return join(PACKAGE_ROOT, ...segments);
}
