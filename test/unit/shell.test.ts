import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { createLineStream } from "../../src/commands/stream-lines.js";
import {
  buildCommand,
  buildExports,
  buildScript,
  buildStopGroupScript,
  quoteShell,
} from "../../src/remote/shell.js";

const awkward = [
  "plain",
  "with space",
  "it's",
  `"double"`,
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${} is the point
  "$HOME ${X} $(id)",
  "`uname`",
  "a;b&&c||d|e>f<g",
  "new\nline",
  "tab\there",
  "ünïcødé 日本語 🎬",
  "*?[glob]",
  "~user",
  "-dash",
  "",
  "'",
  "\\backslash\\",
];

describe("quoteShell", () => {
  it("leaves safe words alone and single-quotes the rest", () => {
    expect(quoteShell("abc-1.2_3/x:y@z")).toBe("abc-1.2_3/x:y@z");
    expect(quoteShell("")).toBe("''");
    expect(quoteShell("a b")).toBe("'a b'");
    expect(quoteShell("it's")).toBe("'it'\\''s'");
  });

  it("round-trips every awkward word through a real bash, byte for byte", () => {
    const out = execFileSync("bash", [
      "--noprofile",
      "--norc",
      "-c",
      `${buildCommand(["printf", "%s\\0", ...awkward])}`,
    ]);
    expect(out).toEqual(Buffer.from(awkward.map((w) => `${w}\0`).join(""), "utf8"));
  });
});

describe("buildExports and buildScript", () => {
  it("exports values exactly and rejects invalid names", () => {
    const env = Object.fromEntries(awkward.map((v, i) => [`PF_V${i}`, v]));
    const script = buildScript({
      env,
      script: `for i in $(seq 0 ${awkward.length - 1}); do v="PF_V$i"; printf '%s\\0' "\${!v}"; done`,
    });
    const out = execFileSync("bash", ["--noprofile", "--norc", "-s"], { input: script });
    expect(out).toEqual(Buffer.from(awkward.map((w) => `${w}\0`).join(""), "utf8"));
    expect(() => buildExports({ "BAD-NAME": "x" })).toThrow(/invalid environment name/);
    expect(() => buildExports({ "A;rm": "x" })).toThrow();
  });

  it("reads the whole script before running it: a command reading stdin cannot eat the rest", () => {
    const script = buildScript({ script: "cat > /dev/null\necho still-here\n" });
    expect(
      execFileSync("bash", ["--noprofile", "--norc", "-s"], { input: script, encoding: "utf8" }),
    ).toBe("still-here\n");
  });

  it("creates and enters the working directory, quoted", () => {
    const script = buildScript({ script: "pwd", cwd: "/tmp/pf unit 'dir'" });
    expect(script).toContain("mkdir -p -- '/tmp/pf unit '\\''dir'\\'''");
    expect(
      execFileSync("bash", ["--noprofile", "--norc", "-s"], { input: script, encoding: "utf8" }),
    ).toBe("/tmp/pf unit 'dir'\n");
    execFileSync("rmdir", ["/tmp/pf unit 'dir'"]);
  });

  it("refuses to build a stop script for process group 0 or 1", () => {
    expect(() => buildStopGroupScript(0, 1)).toThrow();
    expect(() => buildStopGroupScript(1, 1)).toThrow();
    expect(buildStopGroupScript(1234, 2.5)).toContain("PF_GRACE_TENTHS=25");
  });
});

describe("createLineStream", () => {
  it("emits whole lines across chunk boundaries and the last partial line at the end", () => {
    const lines: string[] = [];
    const s = createLineStream((l) => lines.push(l));
    s.write("a");
    s.write("b\nc\n\nd");
    expect(lines).toEqual(["ab", "c", ""]);
    s.end();
    expect(lines).toEqual(["ab", "c", "", "d"]);
  });
});
