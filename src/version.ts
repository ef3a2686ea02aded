import { readFileSync } from "node:fs";
import { packagePath } from "./package-root.js";

/** posefactory's version, from package.json at the package root. */
export const VERSION: string = JSON.parse(
  readFileSync(packagePath("package.json"), "utf8"),
).version;
