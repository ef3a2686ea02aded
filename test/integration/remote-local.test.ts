import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { InterruptedError } from "../../src/errors.js";
import { createSilentLogger } from "../../src/log.js";
import { createExecutor } from "../../src/remote/index.js";
import { isGroupAlive } from "../../src/remote/local.js";
import { buildCommand } from "../../src/remote/shell.js";
import { isProcessAlive } from "../helpers/processes.js";

const dir = mkdtempSync(join(tmpdir(), "pf-local-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function makeExecutor() {
  return createExecutor({ executor: "local" } as never, {
    logger: createSilentLogger(),
    baseDir: dir,
  });
}

describe("local executor", () => {
  it("streams stdout and stderr live and returns exit codes", async () => {
    const ex = await makeExecutor();
    const events: { stream: string; text: string; at: number }[] = [];
    const result = await ex.run("echo one; echo err >&2; sleep 0.5; echo two; exit 3", {
      onStdout: (text) => events.push({ stream: "out", text, at: Date.now() }),
      onStderr: (text) => events.push({ stream: "err", text, at: Date.now() }),
    });
    const end = Date.now();
    expect(result.exitCode).toBe(3);
    expect(result.stderrTail).toBe("err");
    const first = events.find((e) => e.text.includes("one"));
    expect(first).toBeDefined();
    // The first line arrived while the script still had a sleep ahead of it.
    expect(first!.at).toBeLessThan(events.find((e) => e.text.includes("two"))!.at);
    expect(events.map((e) => e.text).join("")).toBe("one\nerr\ntwo\n");
    expect(end).toBeGreaterThanOrEqual(first!.at);
    expect((await ex.run("exit 0")).exitCode).toBe(0);
    expect((await ex.run("exit 255")).exitCode).toBe(255);
  });

  it("exports env, creates cwd, and passes exact bytes", async () => {
    const ex = await makeExecutor();
    const weird = ["a b", `it's "q"`, "$HOME `id` ; rm -rf /", "line1\nline2", "naïve 日本"];
    let out = "";
    const result = await ex.run(
      `printf '%s|' "$PF_SECRET" "$(pwd)"; ${buildCommand(["printf", "%s\\0", ...weird])} > args.bin`,
      {
        env: { PF_SECRET: "s3cr3t value $x" },
        cwd: "sub/dir",
        onStdout: (t) => {
          out += t;
        },
      },
    );
    expect(result.exitCode).toBe(0);
    expect(out).toBe(`s3cr3t value $x|${join(dir, "sub/dir")}|`);
    const bytes = await ex.readFile("sub/dir/args.bin");
    expect(bytes).toEqual(Buffer.from(weird.map((w) => `${w}\0`).join(""), "utf8"));
    await ex.writeFile("x/y.txt", "hello");
    expect((await ex.readFile(join(dir, "x/y.txt")))?.toString()).toBe("hello");
    expect(await ex.readFile("missing")).toBeUndefined();
  });

  it("abort terminates the whole process group and rejects with InterruptedError", async () => {
    const ex = await makeExecutor();
    const controller = new AbortController();
    let pids = "";
    const run = ex.run("sleep 300 & echo $! $$; trap '' TERM; sleep 300", {
      signal: controller.signal,
      onStdout: (t) => {
        pids += t;
        controller.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(InterruptedError);
    const [sleepPid, bashPid] = pids.trim().split(" ").map(Number);
    expect(isProcessAlive(sleepPid!)).toBe(false);
    expect(isProcessAlive(bashPid!)).toBe(false);
    expect(isGroupAlive(bashPid!)).toBe(false);
  });
});
