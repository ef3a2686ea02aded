/**
 * Typed command options, declared once per command: each helper returns an OptionSpec whose
 * zod schema turns commander's raw value (a string, `true` for a bare flag, `undefined` when
 * absent) into the typed value the handler receives. cli.ts checks every value before the
 * handler runs; a bad one exits 2 with `--flag: expected <what>, got "<value>"`.
 */
import { z } from "zod";
import type { OptionSpec } from "./types.js";

/** `--dry-run`: true when given, else false. */
export function flag(flags: string, description: string): OptionSpec<boolean> {
  return {
    flags,
    description,
    kind: "flag",
    schema: z
      .boolean()
      .optional()
      .transform((v) => v === true),
  };
}

/** A free-text value (a run id, a name); commands check what it means themselves. */
export function text(flags: string, description: string): OptionSpec<string | undefined> {
  return {
    flags,
    description,
    kind: "text",
    expected: "a value",
    schema: z.string().min(1).optional(),
    invalid: [""],
  };
}

interface IntegerBounds {
  min: number;
  max?: number;
}

function describeInteger({ min, max }: IntegerBounds): string {
  if (min === 1)
    return max === undefined ? "a positive integer" : `a positive integer up to ${max}`;
  if (max === undefined) return `an integer >= ${min}`;
  return `an integer from ${min} to ${max}`;
}

function integerSchema(bounds: IntegerBounds) {
  let number = z.number().int().min(bounds.min);
  if (bounds.max !== undefined) number = number.max(bounds.max);
  return z
    .string()
    .trim()
    .regex(/^[+-]?\d+$/)
    .transform(Number)
    .pipe(number);
}

/** A whole number within bounds; absent: undefined (the command falls back to the config). */
export function integer(
  flags: string,
  description: string,
  bounds: IntegerBounds,
): OptionSpec<number | undefined> {
  return {
    flags,
    description,
    kind: "integer",
    expected: describeInteger(bounds),
    schema: integerSchema(bounds).optional(),
    invalid: [
      "abc",
      "",
      "1.5",
      String(bounds.min - 1),
      ...(bounds.max ? [`${bounds.max + 1}`] : []),
    ],
  };
}

/** A number of seconds (fractions allowed) >= 0, with a default. */
export function seconds(
  flags: string,
  description: string,
  defaultValue: number,
): OptionSpec<number> {
  return {
    flags,
    description,
    kind: "number",
    expected: "a number of seconds >= 0",
    defaultValue: String(defaultValue),
    schema: z
      .string()
      .trim()
      .regex(/^\+?(\d+\.?\d*|\.\d+)$/)
      .transform(Number)
      .pipe(z.number().min(0).finite()),
    invalid: ["abc", "", "-1", "1s"],
  };
}

/** One of a fixed list of words, with a default. */
export function choice<const T extends readonly [string, ...string[]]>(
  flags: string,
  description: string,
  values: T,
  defaultValue: T[number],
): OptionSpec<T[number]> {
  return {
    flags,
    description,
    kind: "choice",
    expected: `one of ${values.join(", ")}`,
    defaultValue,
    schema: z.enum(values),
    invalid: [
      "not-a-choice",
      "",
      values[0].toUpperCase() === values[0] ? "x" : values[0].toUpperCase(),
    ],
  };
}
