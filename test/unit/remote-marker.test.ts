import { describe, expect, it } from "vitest";
import { MarkerScanner } from "../../src/remote/marker.js";

/** Feeds `text` in pieces of `size` characters; returns what passed and what followed the marker. */
function scan(marker: string, text: string, size: number) {
  const scanner = new MarkerScanner(marker);
  let out = "";
  for (let i = 0; i < text.length; i += size) out += scanner.push(text.slice(i, i + size));
  return { out, found: scanner.found, scanner };
}

describe("MarkerScanner", () => {
  const marker = "\0PF_AHEAD_0123456789abcdef ";
  const output = "line one\npartial \0PF_AHEAD_ line\n\0PF_AHEAD_0123 not it\nlast";

  it("passes the text before the marker exactly and reads the rest of its line, whatever the chunks", () => {
    for (const size of [1, 2, 3, 7, 26, 27, 1000]) {
      const { out, found } = scan(marker, `${output}${marker}3\n`, size);
      expect([size, out, found]).toEqual([size, output, "3"]);
    }
  });

  it("a marker that ends with its newline is found with nothing after it", () => {
    const stderr = "\0PF_AHEAD_0123456789abcdef\n";
    for (const size of [1, 5, 100]) {
      const { out, found } = scan(stderr, `warn\n${stderr}`, size);
      expect([out, found]).toEqual(["warn\n", ""]);
    }
  });

  it("waits for the marker's line to end; after the marker nothing more passes", () => {
    const scanner = new MarkerScanner(marker);
    expect(scanner.push(`x${marker}1`)).toBe("x");
    expect(scanner.found).toBeUndefined();
    expect(scanner.push("27\n")).toBe("");
    expect(scanner.found).toBe("127");
    expect(scanner.push("more")).toBe("");
    expect(scanner.end("")).toBe("");
  });

  it("holds back only what could start the marker", () => {
    const scanner = new MarkerScanner(marker);
    expect(scanner.push("12 34\n")).toBe("12 34\n");
    expect(scanner.push("PF_AHEAD_ and \0")).toBe("PF_AHEAD_ and ");
    expect(scanner.push("x")).toBe("\0x");
  });

  it("without a marker, end() gives back what it held", () => {
    const { out, scanner } = scan(marker, "no marker here\n\0PF_AH", 4);
    expect(out).toBe("no marker here\n");
    expect(out + scanner.end("!")).toBe("no marker here\n\0PF_AH!");
    expect(scanner.found).toBeUndefined();
  });
});
