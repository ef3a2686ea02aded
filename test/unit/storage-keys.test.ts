import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { UserError } from "../../src/errors.js";
import { isStorageError } from "../../src/storage/errors.js";
import { explainUnsafeKey, localPathForKey } from "../../src/storage/keys.js";
import { backoffDelay, isTransientError, withRetry } from "../../src/storage/retry.js";

describe("unsafe keys", () => {
  it.each([
    ["../escape.txt", "'..'"],
    ["a/../../b", "'..'"],
    ["/etc/passwd", "absolute"],
    ["a\\..\\b", "backslash"],
    ["a\u0000b", "control"],
    ["C:/x", "drive"],
    ["a//b", "empty segment"],
    ["./a", "'.'"],
    ["", "empty"],
  ])("refuses %j (%s)", (rel, why) => {
    expect(explainUnsafeKey(rel)).toContain(why);
    let error: unknown;
    try {
      localPathForKey("/dest", `p/${rel}`, rel);
    } catch (e) {
      error = e;
    }
    expect(isStorageError(error, "unsafe-key")).toBe(true);
    expect((error as Error).message).toContain(JSON.stringify(`p/${rel}`));
  });

  it.each([
    "a.png",
    "renders/x y/f0001.png",
    "$HOME 'q' \"d\".txt",
    "Ünïcödé/日本.json",
    "..a/b..",
    "a/.hidden",
  ])("accepts %j", (rel) => {
    expect(explainUnsafeKey(rel)).toBeUndefined();
    expect(localPathForKey("/dest", rel, rel)).toBe(join(resolve("/dest"), ...rel.split("/")));
  });
});

describe("retry", () => {
  it("classifies transient errors", () => {
    expect(isTransientError({ $metadata: { httpStatusCode: 503 } })).toBe(true);
    expect(isTransientError({ $metadata: { httpStatusCode: 429 } })).toBe(true);
    expect(isTransientError({ name: "SlowDown" })).toBe(true);
    expect(isTransientError(Object.assign(new Error("x"), { code: "ECONNRESET" }))).toBe(true);
    expect(
      isTransientError(
        new AggregateError([Object.assign(new Error("x"), { code: "ECONNREFUSED" })]),
      ),
    ).toBe(true);
    expect(isTransientError({ name: "NoSuchBucket", $metadata: { httpStatusCode: 404 } })).toBe(
      false,
    );
    expect(isTransientError({ name: "AccessDenied", $metadata: { httpStatusCode: 403 } })).toBe(
      false,
    );
    expect(isTransientError(new UserError("fix it"))).toBe(false);
  });

  it("backoff is jittered and bounded", () => {
    for (let attempt = 0; attempt < 10; attempt++) {
      const d = backoffDelay(attempt, 250, 4000);
      expect(d).toBeGreaterThanOrEqual(25);
      expect(d).toBeLessThanOrEqual(4000);
    }
  });

  it("retries transient failures a bounded number of times, never a UserError", async () => {
    let calls = 0;
    const flaky = await withRetry(
      async () => {
        calls++;
        if (calls < 3) throw Object.assign(new Error("reset"), { code: "ECONNRESET" });
        return "ok";
      },
      { what: "test", baseDelayMs: 1, maxDelayMs: 2 },
    );
    expect(flaky).toBe("ok");
    expect(calls).toBe(3);
    calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw Object.assign(new Error("reset"), { code: "ECONNRESET" });
        },
        { what: "test", attempts: 4, baseDelayMs: 1, maxDelayMs: 2 },
      ),
    ).rejects.toThrow("reset");
    expect(calls).toBe(4);
    calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw new UserError("no");
        },
        { what: "test", baseDelayMs: 1 },
      ),
    ).rejects.toThrow("no");
    expect(calls).toBe(1);
  });
});
