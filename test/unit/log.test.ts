/**
 * The logger (src/log.ts) is built on the first line its level lets through: lines below the
 * level are dropped, lines at or above it are written (redacted) as soon as they are logged,
 * and a log file is opened at once whatever is logged.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createLogger, createSilentLogger } from "../../src/log.js";
import { makeTempDir } from "../helpers/cli.js";

const temps: { cleanup: () => void }[] = [];
afterEach(() => {
  for (const t of temps.splice(0)) t.cleanup();
});

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (d) => (text += d));
  return { stream, text: () => text };
}

describe("createLogger", () => {
  it("drops lines below its level and writes the others at once, in order", () => {
    const out = capture();
    const logger = createLogger({ json: true, stream: out.stream, level: "warn" });
    logger.debug("not this");
    logger.info({ n: 1 }, "nor this");
    expect(out.text()).toBe("");
    logger.warn({ n: 2 }, "first");
    expect(out.text()).toContain('"msg":"first"');
    logger.error("second");
    const lines = out
      .text()
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { msg: string; level: number; n?: number });
    expect(lines.map((l) => [l.msg, l.level, l.n])).toEqual([
      ["first", 40, 2],
      ["second", 50, undefined],
    ]);
  });

  it("redacts secret fields in the first line, which builds the logger", () => {
    const out = capture();
    createLogger({ json: true, stream: out.stream }).info({ secretAccessKey: "abc-123" }, "hi");
    expect(out.text()).toContain("[redacted]");
    expect(out.text()).not.toContain("abc-123");
  });

  it("human lines (pino-pretty) too", () => {
    const out = capture();
    createLogger({ stream: out.stream, color: false }).info({ files: 3 }, "uploading");
    expect(out.text()).toMatch(/INFO.*uploading/);
  });

  it("silent writes nothing", () => {
    const out = capture();
    const logger = createLogger({ json: true, stream: out.stream, level: "silent" });
    logger.error("no");
    createSilentLogger().error("no");
    expect(out.text()).toBe("");
  });

  it("opens --log-file at once, before anything is logged", async () => {
    const t = makeTempDir();
    temps.push(t);
    const file = join(t.dir, "logs", "pf.log");
    createLogger({ json: true, stream: capture().stream, file });
    expect(existsSync(join(t.dir, "logs"))).toBe(true);
    // The stream opens (and makes) the file a moment later, nothing logged.
    await vi.waitFor(() => expect(existsSync(file)).toBe(true));
  });
});
