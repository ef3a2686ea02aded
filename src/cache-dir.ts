/**
 * The user's cache folder for posefactory: downloaded pose models (detect/model.ts) and the
 * CLI's V8 code cache (launch/code-cache.ts). Everything in it can be deleted at any time.
 */
import { homedir } from "node:os";
import { join, resolve } from "node:path";

/** `$POSEFACTORY_CACHE_DIR`, else `$XDG_CACHE_HOME/posefactory`, else `~/.cache/posefactory`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.POSEFACTORY_CACHE_DIR) return resolve(env.POSEFACTORY_CACHE_DIR);
  const base = env.XDG_CACHE_HOME ? resolve(env.XDG_CACHE_HOME) : join(homedir(), ".cache");
  return join(base, "posefactory");
}
