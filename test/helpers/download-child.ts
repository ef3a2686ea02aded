/**
 * A download in its own process, for the "killed half-way" test. It prints `HALF` once
 * `blockAfter` bytes have arrived and then freezes (a synchronous wait), so the parent can
 * kill it at a known point instead of racing a timer.
 * Usage: node --import tsx download-child.ts <endpoint> <keyPrefix> <dest> <stateDir> <blockAfter>
 */
import { downloadPrefix } from "../../src/storage/sync.js";
import { s3StorageFor } from "./storage.js";

const [endpoint, keyPrefix, dest, stateDir, blockAfter] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
];
let bytes = 0;
await downloadPrefix(s3StorageFor(endpoint), keyPrefix, dest, {
  stateDir,
  concurrency: 1,
  progress: {
    start() {},
    fileDone() {},
    stop() {},
    addBytes(n) {
      bytes += n;
      if (bytes >= Number(blockAfter)) {
        process.stdout.write("HALF\n");
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
      }
    },
  },
});
process.stdout.write("DONE\n");
