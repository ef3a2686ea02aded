/**
 * Turns streamed chunks into whole lines for the output layer (which prints line by line),
 * so remote output appears as it arrives without splitting a line in two.
 */
export interface LineStream {
  write(chunk: string): void;
  /** Emit a last line that had no newline. */
  end(): void;
}

export function createLineStream(onLine: (line: string) => void): LineStream {
  let pending = "";
  return {
    write(chunk) {
      pending += chunk;
      let newline = pending.indexOf("\n");
      while (newline >= 0) {
        onLine(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
        newline = pending.indexOf("\n");
      }
    },
    end() {
      if (pending !== "") onLine(pending);
      pending = "";
    },
  };
}
