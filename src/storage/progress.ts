/**
 * Transfer progress: a redrawn bar when stderr is a TTY, otherwise one log line every few
 * seconds, e.g. "upload 42% (420 of 1000 files, 1.2 GB)". Colour only on a TTY without
 * NO_COLOR. Percentages follow bytes (files when there are no bytes to move).
 */
import type { Logger } from "../log.js";

export interface ProgressReporter {
  start(totalFiles: number, totalBytes: number): void;
  /** Bytes moved since the last call. */
  addBytes(n: number): void;
  fileDone(): void;
  stop(): void;
}

export const silentProgress: ProgressReporter = {
  start() {},
  addBytes() {},
  fileDone() {},
  stop() {},
};

export function formatBytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export interface ProgressOptions {
  logger: Logger;
  stream?: NodeJS.WriteStream;
  env?: NodeJS.ProcessEnv;
  /** Between log lines when not on a TTY (default 5 s). */
  intervalMs?: number;
}

export function createProgress(label: string, options: ProgressOptions): ProgressReporter {
  const stream = options.stream ?? process.stderr;
  const env = options.env ?? process.env;
  const tty = stream.isTTY === true;
  const color = tty && !env.NO_COLOR;
  let files = 0;
  let totalFiles = 0;
  let bytes = 0;
  let totalBytes = 0;
  let timer: NodeJS.Timeout | undefined;

  const percent = () => {
    const ratio = totalBytes > 0 ? bytes / totalBytes : totalFiles > 0 ? files / totalFiles : 1;
    return Math.min(100, Math.floor(ratio * 100));
  };
  const line = () =>
    `${label} ${percent()}% (${files} of ${totalFiles} files, ${formatBytes(bytes)}${totalBytes ? ` of ${formatBytes(totalBytes)}` : ""})`;
  const drawBar = () => {
    const width = 24;
    const filled = Math.round((percent() / 100) * width);
    const bar = "#".repeat(filled) + "-".repeat(width - filled);
    const shown = color ? `\x1b[36m${bar}\x1b[0m` : bar;
    stream.write(
      `\r\x1b[K${label} [${shown}] ${percent()}% ${files}/${totalFiles} files ${formatBytes(bytes)}`,
    );
  };

  return {
    start(f, b) {
      totalFiles = f;
      totalBytes = b;
      if (f === 0) return;
      if (tty) {
        drawBar();
        timer = setInterval(drawBar, 100);
      } else {
        timer = setInterval(() => options.logger.info(line()), options.intervalMs ?? 5000);
      }
      timer.unref();
    },
    addBytes(n) {
      bytes += n;
    },
    fileDone() {
      files++;
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      if (tty && totalFiles > 0) stream.write("\r\x1b[K");
    },
  };
}
