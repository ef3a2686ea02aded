/**
 * One file per command exports a CommandSpec; cli.ts registers them all from the list in
 * commands/index.ts. Handlers parse nothing themselves: commander hands them arguments and
 * options, and they call the library function that does the work.
 */
import type { Context } from "../context.js";

export interface OptionSpec {
  /** commander flags, e.g. "--dry-run" or "-f, --follow" or "--concurrency <n>". */
  flags: string;
  description: string;
  defaultValue?: string | boolean | number;
  /** Parse the raw string (e.g. Number). */
  parse?: (value: string) => unknown;
}

export interface CommandSpec {
  /** "upload", or a sub-command path such as "config validate" or "known-hosts forget". */
  name: string;
  description: string;
  /** commander argument syntax, e.g. ["[runId]"] or ["<host>"] or ["[command...]"]. */
  arguments?: string[];
  options?: OptionSpec[];
  /** false for commands that work without a config file (init, aliases). Default true. */
  needsConfig?: boolean;
  /** Returns the exit code (0 when omitted). Throw UserError for failures the user can fix. */
  run(args: unknown[], options: Record<string, unknown>, ctx: Context): Promise<number | undefined>;
}
