/**
 * The validated-config cache (src/config/cache.ts): a repeated run on the same inputs gets
 * the stored result and its warnings; any other input (text, POSEFACTORY_* values, --target,
 * build) validates again; errors are never stored; a damaged entry is replaced.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type ConfigCache, loadConfigCached } from "../../src/config/cache.js";
import { loadConfig } from "../../src/config/load.js";
import { UsageError } from "../../src/errors.js";
import { makeTempDir } from "../helpers/cli.js";

const temps: { cleanup: () => void }[] = [];
afterEach(() => {
  for (const t of temps.splice(0)) t.cleanup();
});

const CONFIG = "render:\n  samples: 8\nbogus: 1\ntargets:\n  other:\n    executor: local\n";

function setup(text = CONFIG) {
  const t = makeTempDir();
  temps.push(t);
  writeFileSync(join(t.dir, "posefactory.yaml"), text);
  const cache: ConfigCache = { dir: join(t.dir, "cache", "config"), sourceId: "build-1" };
  const warnings: string[] = [];
  const options = (extra: Record<string, unknown> = {}) => ({
    cwd: t.dir,
    home: t.home,
    env: {} as NodeJS.ProcessEnv,
    onWarning: (m: string) => warnings.push(m),
    ...extra,
  });
  /** The one entry's file; edited by tests to tell a cached answer from a fresh one. */
  const entryFile = () => join(cache.dir, readdirSync(cache.dir)[0]!);
  const tamper = (samples: number) => {
    const entry = JSON.parse(readFileSync(entryFile(), "utf8"));
    entry.resolved.config.render.samples = samples;
    writeFileSync(entryFile(), JSON.stringify(entry));
  };
  return { t, cache, warnings, options, entryFile, tamper };
}

describe("loadConfigCached", () => {
  it("validates as loadConfig does, then answers the same inputs from the cache, warnings included", async () => {
    const s = setup();
    const first = await loadConfigCached(s.options(), s.cache);
    expect(first).toEqual(loadConfig(s.options()));
    expect(first.config.render.samples).toBe(8);
    expect(s.warnings[0]).toMatch(/posefactory\.yaml:3:1 bogus: unknown key/);
    s.tamper(99);
    s.warnings.length = 0;
    const second = await loadConfigCached(s.options(), s.cache);
    expect(second.config.render.samples).toBe(99);
    expect(s.warnings).toHaveLength(1);
    expect(s.warnings[0]).toMatch(/bogus: unknown key/);
  });

  const changes: [string, (s: ReturnType<typeof setup>) => Record<string, unknown>, number][] = [
    [
      "the file's text",
      (s) => {
        writeFileSync(join(s.t.dir, "posefactory.yaml"), CONFIG.replace("8", "12"));
        return {};
      },
      12,
    ],
    ["a POSEFACTORY_* value", () => ({ env: { POSEFACTORY_RENDER_SAMPLES: "5" } }), 5],
    ["--target", () => ({ target: "other" }), 8],
  ];
  for (const [what, change, samples] of changes) {
    it(`validates again when ${what} differs`, async () => {
      const s = setup();
      await loadConfigCached(s.options(), s.cache);
      s.tamper(99);
      const again = await loadConfigCached(s.options(change(s)), s.cache);
      expect(again.config.render.samples).toBe(samples);
    });
  }

  it("validates again for another build", async () => {
    const s = setup();
    await loadConfigCached(s.options(), s.cache);
    s.tamper(99);
    const again = await loadConfigCached(s.options(), { ...s.cache, sourceId: "build-2" });
    expect(again.config.render.samples).toBe(8);
  });

  it("never stores an invalid config: it fails with its line every time", async () => {
    const s = setup("render:\n  samples: lots\n");
    for (let i = 0; i < 2; i++) {
      const error = await loadConfigCached(s.options(), s.cache).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UsageError);
      expect((error as Error).message).toMatch(/posefactory\.yaml:2:\d+ render\.samples/);
    }
    expect(() => readdirSync(s.cache.dir)).toThrow();
  });

  it("replaces a damaged entry", async () => {
    const s = setup();
    await loadConfigCached(s.options(), s.cache);
    writeFileSync(s.entryFile(), "{ not json");
    expect((await loadConfigCached(s.options(), s.cache)).config.render.samples).toBe(8);
    s.tamper(99);
    expect((await loadConfigCached(s.options(), s.cache)).config.render.samples).toBe(99);
  });

  it("keeps the defaults (no file, not required) per folder, and a missing required file is the usual error", async () => {
    const s = setup();
    const other = makeTempDir();
    temps.push(other);
    const defaults = await loadConfigCached(
      { cwd: other.dir, home: other.home, env: {}, required: false },
      s.cache,
    );
    expect(defaults.path).toBeUndefined();
    expect(defaults.config.render.samples).toBe(
      loadConfig({ cwd: other.dir, home: other.home, env: {}, required: false }).config.render
        .samples,
    );
    const error = await loadConfigCached(
      { cwd: other.dir, home: other.home, env: {} },
      s.cache,
    ).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/No posefactory\.yaml/);
  });

  it("without a cache it is loadConfig", async () => {
    const s = setup();
    expect(await loadConfigCached(s.options(), undefined)).toEqual(loadConfig(s.options()));
    expect(() => readdirSync(s.cache.dir)).toThrow();
  });
});
