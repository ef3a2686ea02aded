/**
 * posefactory.yaml -> Config. YAML syntax errors and schema problems become one UsageError
 * that starts with the file path and lists every problem as `file:line:col key.path: message`;
 * unknown keys are warnings with a "did you mean" suggestion.
 * Precedence: defaults < file < POSEFACTORY_* environment < flags actually given.
 */
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { isMap, isScalar, LineCounter, type Node, parseDocument } from "yaml";
import type { z } from "zod";
import { UsageError } from "../errors.js";
import { CONFIG_FILE_NAME, ENV_KEYS, findConfigFile, type LoadOptions } from "./find.js";
import {
  type Config,
  configSchema,
  DEFAULT_LOCAL_TARGET,
  type ResolvedConfig,
  type TargetConfig,
} from "./schema.js";
import { suggestKey } from "./suggest.js";

export { CONFIG_FILE_NAME, ENV_KEYS, findConfigFile, type LoadOptions, suggestKey };

export function loadConfig(options: LoadOptions = {}): ResolvedConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const path = findConfigFile(options);
  if (!path && options.required !== false) {
    throw new UsageError(
      `No ${CONFIG_FILE_NAME} in ${cwd} (nor ~/.config/posefactory/config.yaml): run \`posefactory init\` to create one, or pass --config <file>`,
    );
  }
  const config = path
    ? parseConfigText(readFileSync(path, "utf8"), path, env, options.onWarning)
    : parseConfigText("", "(defaults)", env, options.onWarning);
  return resolveTarget(config, path, options.target);
}

/** Parse and validate config text; `file` is used in messages only. */
export function parseConfigText(
  text: string,
  file: string,
  env: NodeJS.ProcessEnv = {},
  onWarning: (message: string) => void = () => {},
): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((error) => {
      const pos = lineCounter.linePos(error.pos[0]);
      const where = pos ? `${file}:${pos.line}:${pos.col}` : file;
      return `${where} ${error.message.split("\n")[0]}`;
    });
    throw new UsageError(`${file}: invalid YAML\n  ${lines.join("\n  ")}`);
  }
  const raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new UsageError(
      `${file}:1:1 the config must be a mapping of keys (for example \`target: local\`)`,
    );
  }
  // An empty section (`targets:` with only comments below) means "use the defaults".
  for (const [key, value] of Object.entries(raw))
    if (value === null) delete (raw as Record<string, unknown>)[key];
  const fromEnv = applyEnvironment(raw as Record<string, unknown>, env);

  const locate = (path: PropertyKey[], at: "key" | "value" = "value"): string => {
    const envName = fromEnv.get(path.join("."));
    if (envName) return `${envName} (environment)`;
    const offset = findOffset(doc.contents as Node | null, path, at);
    if (offset === undefined) return file;
    const { line, col } = lineCounter.linePos(offset);
    return `${file}:${line}:${col}`;
  };

  // One parse per process: zod's compiled fast path (new Function per object schema, which no
  // code cache keeps) costs more to build than it saves here.
  const result = configSchema.safeParse(raw, { jitless: true });
  const issues = result.success ? [] : result.error.issues;
  const unknown = issues.filter((i) => i.code === "unrecognized_keys");
  const problems = issues.filter((i) => i.code !== "unrecognized_keys");
  const warnings = unknown.flatMap((issue) =>
    issue.keys.map((key) => {
      const path = [...issue.path, key];
      const suggestion = suggestKey(
        key,
        knownKeysAt(configSchema as unknown as AnySchema, issue.path),
      );
      const offset = findOffset(doc.contents as Node | null, path, "key") ?? 0;
      const text = `${locate(path, "key")} ${formatPath(path)}: unknown key, ignored${suggestion ? ` (did you mean \`${suggestion}\`?)` : ""}`;
      return { offset, text };
    }),
  );
  for (const warning of warnings.sort((a, b) => a.offset - b.offset)) onWarning(warning.text);
  if (problems.length > 0) {
    const lines = problems.flatMap((issue) =>
      describeIssue(issue).map(
        (msg) => `${locate(msg.path)} ${formatPath(msg.path)}: ${msg.message}`,
      ),
    );
    throw new UsageError(
      `${file}: ${lines.length} problem${lines.length === 1 ? "" : "s"} in the config\n  ${lines.join("\n  ")}`,
    );
  }
  if (result.success) return result.data;
  // Only unknown keys: drop them and validate again.
  for (const issue of unknown) {
    const parent = getIn(raw, issue.path) as Record<string, unknown>;
    for (const key of issue.keys) delete parent[key];
  }
  return configSchema.parse(raw);
}

/** Pick the target: --target, else config.target (which POSEFACTORY_TARGET may have set). */
export function resolveTarget(
  config: Config,
  path: string | undefined,
  flagTarget?: string,
): ResolvedConfig {
  const targetName = flagTarget ?? config.target;
  let target: TargetConfig | undefined = config.targets[targetName];
  if (!target && targetName === "local") target = DEFAULT_LOCAL_TARGET;
  if (!target) {
    const names = ["local", ...Object.keys(config.targets).filter((n) => n !== "local")];
    throw new UsageError(
      `Unknown target \`${targetName}\`${path ? ` in ${path}` : ""}: the targets are ${names.join(", ")} (add it under \`targets:\`)`,
    );
  }
  return { config, path, baseDir: path ? dirname(path) : process.cwd(), targetName, target };
}

function applyEnvironment(
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): Map<string, string> {
  const applied = new Map<string, string>();
  for (const [name, spec] of Object.entries(ENV_KEYS)) {
    const value = env[name];
    if (value === undefined || value === "") continue;
    let parsed: unknown = value;
    if (spec.type === "number" && /^-?\d+(\.\d+)?$/.test(value)) parsed = Number(value);
    if (spec.type === "boolean" && /^(true|false)$/i.test(value))
      parsed = value.toLowerCase() === "true";
    let node: Record<string, unknown> = raw;
    for (const key of spec.path.slice(0, -1)) {
      if (typeof node[key] !== "object" || node[key] === null) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    node[spec.path.at(-1)!] = parsed;
    applied.set(spec.path.join("."), name);
  }
  return applied;
}

function describeIssue(issue: z.core.$ZodIssue): { path: PropertyKey[]; message: string }[] {
  // A union says only "Invalid input": show what its closest branch expected instead.
  if (issue.code === "invalid_union" && issue.errors.length > 0) {
    const best = [...issue.errors].sort((a, b) => a.length - b.length)[0]!;
    if (best.length > 0) {
      return best.flatMap((inner) =>
        describeIssue({ ...inner, path: [...issue.path, ...inner.path] } as z.core.$ZodIssue),
      );
    }
  }
  return [{ path: issue.path, message: issue.message.replace(/^Invalid input: /, "") }];
}

function formatPath(path: PropertyKey[]): string {
  if (path.length === 0) return "(top level)";
  return path
    .map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
    .join("");
}

function getIn(value: unknown, path: PropertyKey[]): unknown {
  let node = value;
  for (const key of path) node = (node as Record<PropertyKey, unknown>)?.[key];
  return node;
}

/** Offset of the deepest YAML node on `path` (a key's own position when it exists). */
function findOffset(
  root: Node | null,
  path: PropertyKey[],
  at: "key" | "value",
): number | undefined {
  let node: unknown = root;
  let offset = root?.range?.[0];
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => isScalar(item.key) && String(item.key.value) === String(key),
      );
      if (!pair) return offset;
      offset = (pair.key as Node).range?.[0] ?? offset;
      node = pair.value;
      // For the last key, point at the value (where the wrong thing is), when it exists.
      if (at === "value" && key === path.at(-1) && (pair.value as Node | null)?.range)
        offset = (pair.value as Node).range![0];
    } else if (node && typeof node === "object" && "items" in node && Array.isArray(node.items)) {
      const item = node.items[Number(key)] as Node | undefined;
      if (!item) return offset;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else {
      return offset;
    }
  }
  return offset;
}

type AnySchema = { _zod: { def: Record<string, unknown> & { type: string } } };

/** Keys the schema accepts at `path` (for "did you mean"). */
function knownKeysAt(schema: AnySchema, path: PropertyKey[]): string[] {
  const shapesOf = (s: AnySchema | undefined): AnySchema[] => {
    if (!s) return [];
    const def = s._zod.def;
    if (def.type === "object") return [s];
    if (
      def.type === "default" ||
      def.type === "optional" ||
      def.type === "nullable" ||
      def.type === "prefault"
    ) {
      return shapesOf(def.innerType as AnySchema);
    }
    if (def.type === "union") return (def.options as AnySchema[]).flatMap(shapesOf);
    if (def.type === "pipe") return shapesOf(def.in as AnySchema);
    return [];
  };
  let current: AnySchema[] = [schema];
  for (const key of path) {
    const next: AnySchema[] = [];
    for (const s of current) {
      for (const obj of shapesOf(s)) {
        const child = (obj._zod.def.shape as Record<string, AnySchema>)[String(key)];
        if (child) next.push(child);
      }
    }
    current = next.length > 0 ? next : current.flatMap((c) => recordValues(c));
  }
  return [
    ...new Set(current.flatMap(shapesOf).flatMap((o) => Object.keys(o._zod.def.shape as object))),
  ];

  function recordValues(s: AnySchema): AnySchema[] {
    const def = s._zod.def;
    if (def.type === "default" || def.type === "optional")
      return recordValues(def.innerType as AnySchema);
    if (def.type === "record") return [def.valueType as AnySchema];
    return [];
  }
}
