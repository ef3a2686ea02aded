/**
 * One file per command exports a CommandSpec (made with defineCommand); cli.ts registers them
 * all from the list in commands/index.ts. Each command declares its options once, with the
 * helpers of commands/options.ts; cli.ts validates every value before the handler runs, so a
 * handler receives typed values and parses nothing itself.
 */
import type { z } from "zod";
import type { Context } from "../context.js";

/** What the value of an option is, for help, errors and the test that feeds each a bad value. */
export type OptionKind = "flag" | "text" | "integer" | "number" | "choice";

export interface OptionSpec<T> {
  /** commander flags, e.g. "--dry-run" or "-f, --follow" or "--concurrency <n>". */
  flags: string;
  description: string;
  kind: OptionKind;
  /** commander's raw value (string, `true` for a bare flag, undefined when absent) -> T. */
  schema: z.ZodType<T, unknown>;
  /** In words, for `--flag: expected <this>, got "<value>"`. */
  expected?: string;
  /** The raw default (shown in --help, checked by `schema` like a typed value). */
  defaultValue?: string;
  /** Values `schema` refuses: the option tests feed each of them to the command. */
  invalid?: string[];
}

// biome-ignore lint/suspicious/noExplicitAny: a record of options of any value type.
export type OptionSpecs = Record<string, OptionSpec<any>>;

/** The typed values a handler receives: the output type of each option's schema. */
export type OptionValues<O extends OptionSpecs> = {
  [K in keyof O]: O[K] extends OptionSpec<infer T> ? T : never;
};

export interface CommandSpec<O extends OptionSpecs = OptionSpecs> {
  /** "upload", or a sub-command path such as "config validate" or "known-hosts forget". */
  name: string;
  description: string;
  /** commander argument syntax, e.g. ["[runId]"] or ["<host>"] or ["[command...]"]. */
  arguments?: string[];
  /** Keyed by commander's attribute name of the flags (`--dry-run` -> dryRun); cli.ts checks. */
  options?: O;
  /** false for commands that work without a config file (init, aliases). Default true. */
  needsConfig?: boolean;
  /** Returns the exit code (0 when omitted). Throw UserError for failures the user can fix. */
  run(args: unknown[], options: OptionValues<O>, ctx: Context): Promise<number | undefined>;
}

/** Declare a command; the handler's options are typed from the declarations. */
export function defineCommand<O extends OptionSpecs = Record<never, never>>(
  spec: CommandSpec<O>,
): CommandSpec {
  return spec as unknown as CommandSpec;
}
