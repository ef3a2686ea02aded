/**
 * The end of a runAhead script (ssh.ts) in its shell's output: a marker with a random name that
 * the shell prints after the script (a NUL byte, the name, then on stdout the exit code), on
 * stdout and on stderr.
 */

/**
 * Finds a marker line in a stream of decoded chunks (runAhead's end): push() returns the text
 * before the marker, holding back a tail that could be the marker's start; `found` is what
 * follows the marker up to the end of its line ("" for a marker that ends with its newline).
 */
export class MarkerScanner {
  private held = "";
  found: string | undefined;

  constructor(private readonly marker: string) {}

  push(chunk: string): string {
    if (this.found !== undefined) return "";
    const text = this.held + chunk;
    const at = text.indexOf(this.marker);
    if (at >= 0) {
      const rest = text.slice(at + this.marker.length);
      const newline = this.marker.endsWith("\n") ? 0 : rest.indexOf("\n");
      if (newline < 0) {
        this.held = text.slice(at);
        return text.slice(0, at);
      }
      this.found = rest.slice(0, newline);
      this.held = "";
      return text.slice(0, at);
    }
    // Held back: only a tail that could be the marker's start (it begins with a NUL byte, so
    // ordinary output passes at once).
    let keep = Math.min(text.length, this.marker.length - 1);
    while (keep > 0 && !this.marker.startsWith(text.slice(text.length - keep))) keep--;
    this.held = text.slice(text.length - keep);
    return text.slice(0, text.length - keep);
  }

  /** The channel closed: whatever was held back is output after all. */
  end(rest: string): string {
    const text = this.found === undefined ? this.held + rest : "";
    this.held = "";
    return text;
  }
}
