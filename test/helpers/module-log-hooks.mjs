// Loader hooks for module-log.mjs (they run on the loader thread).
import { appendFileSync } from "node:fs";

export async function load(url, context, nextLoad) {
  if (process.env.PF_MODULE_LOG) appendFileSync(process.env.PF_MODULE_LOG, `${url}\n`);
  return nextLoad(url, context);
}
