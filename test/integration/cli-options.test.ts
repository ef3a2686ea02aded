/**
 * Typed options: every value-taking option of every command in the registry gets each value
 * its declaration refuses, and must exit 2 naming the flag, the value and what is expected,
 * before anything runs. A flag added later is covered without touching this file.
 */
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Option } from "commander";
import { afterAll, describe, expect, it } from "vitest";
import { commands } from "../../src/commands/index.js";
import { cleanEnv, makeTempDir, runBin, runCli } from "../helpers/cli.js";

const t = makeTempDir("pf-options-");
afterAll(() => t.cleanup());
mkdirSync(join(t.dir, "characters"), { recursive: true });
writeFileSync(join(t.dir, "characters", "hero.fbx"), "not really an fbx, only bytes to upload");
writeFileSync(join(t.dir, "posefactory.yaml"), "target: local\n");
const env = cleanEnv({}, t.home);
const storageDir = join(t.dir, ".posefactory", "storage");

/** Placeholder values for a command's required arguments (commander insists on them). */
function argumentsOf(spec: (typeof commands)[number]): string[] {
  return (spec.arguments ?? [])
    .filter((a) => a.startsWith("<"))
    .map((a) => (a.includes("...") ? "true" : "20261125-083012-a1b2c3"));
}

const cases = commands.flatMap((spec) =>
  Object.values(spec.options ?? {})
    .filter((opt) => opt.kind !== "flag")
    .flatMap((opt) =>
      (opt.invalid ?? []).map((value) => ({
        spec,
        flag: new Option(opt.flags).long!,
        expected: opt.expected!,
        value,
      })),
    ),
);

describe("typed command options", () => {
  it("every value-taking option declares what it expects and values it refuses", () => {
    for (const spec of commands) {
      for (const opt of Object.values(spec.options ?? {})) {
        if (opt.kind === "flag") continue;
        expect(opt.expected, `${spec.name} ${opt.flags}`).toBeTruthy();
        expect(opt.invalid?.length, `${spec.name} ${opt.flags}`).toBeGreaterThan(0);
      }
    }
    const covered = new Set(cases.map((c) => `${c.spec.name} ${c.flag}`));
    for (const known of [
      "upload --concurrency",
      "download --concurrency",
      "stop --grace",
      "aliases --shell",
    ])
      expect(covered).toContain(known);
  });

  it.each(cases.map((c) => [`${c.spec.name} ${c.flag} ${JSON.stringify(c.value)}`, c] as const))(
    "%s exits 2 naming the flag, the value and what is expected",
    async (_name, c) => {
      const argv = [...c.spec.name.split(" "), ...argumentsOf(c.spec), c.flag, c.value];
      const result = await runCli(argv, { cwd: t.dir, env });
      expect(result.stderr).toContain(
        `${c.flag}: expected ${c.expected}, got ${JSON.stringify(c.value)}`,
      );
      expect(result.code).toBe(2);
      expect(result.stdout).toBe("");
    },
  );

  it("upload --concurrency abc uploads nothing and exits 2; a good value uploads", async () => {
    const bad = await runBin(["upload", "--concurrency", "abc"], { cwd: t.dir, env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--concurrency: expected a positive integer up to 64, got "abc"');
    expect(readdirSync(t.dir)).not.toContain(".posefactory");

    const good = await runCli(["upload", "--concurrency", "2", "--json"], { cwd: t.dir, env });
    expect(good.code).toBe(0);
    expect(JSON.parse(good.stdout).uploaded).toBeGreaterThan(1);
    expect(readdirSync(storageDir)).toContain("inputs");
  });

  it("a default goes through the same schema (aliases --shell zsh)", async () => {
    const aliases = await runCli(["aliases", "--json"], { cwd: t.dir, env });
    expect(aliases.code).toBe(0);
    expect(JSON.parse(aliases.stdout).shell).toBe("zsh");
  });
});
