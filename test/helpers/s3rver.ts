/**
 * Starts a real s3rver (npm s3rver 3.7.1) in its own node process on 127.0.0.1 with a
 * random free port and a temp directory, with the given buckets created. Counts requests
 * at the server: `requests()` returns every {method, path} seen since the last `resetRequests()`.
 * `stop()` kills the process and removes the directory.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export interface S3rverRequest {
  method: string;
  path: string;
  contentLength: number;
}

export interface S3rverHandle {
  endpoint: string;
  port: number;
  directory: string;
  /** Requests seen since start or the last resetRequests(). */
  requests(): Promise<S3rverRequest[]>;
  resetRequests(): Promise<void>;
  /** Count of requests with that method (e.g. "HEAD", "PUT") since the last reset. */
  count(method: string): Promise<number>;
  stop(): Promise<void>;
  process: ChildProcess;
}

const LAUNCHER = fileURLToPath(new URL("./s3rver-launcher.mjs", import.meta.url));

export async function startS3rver(options: { buckets?: string[] } = {}): Promise<S3rverHandle> {
  const buckets = options.buckets ?? ["test-bucket"];
  const directory = await mkdtemp(join(tmpdir(), "pf-s3rver-"));
  const child = spawn(
    process.execPath,
    ["--openssl-legacy-provider", LAUNCHER, directory, ...buckets],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`s3rver did not start: ${stderr}`)), 30_000);
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const match = /READY (\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited with code ${code}: ${stderr}`));
    });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const requests = async (): Promise<S3rverRequest[]> => {
    const response = await fetch(`${endpoint}/__requests`);
    return (await response.json()) as S3rverRequest[];
  };
  return {
    endpoint,
    port,
    directory,
    process: child,
    requests,
    async resetRequests() {
      await fetch(`${endpoint}/__requests`, { method: "DELETE" });
    },
    async count(method: string) {
      return (await requests()).filter((r) => r.method === method).length;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
      await rm(directory, { recursive: true, force: true });
    },
  };
}
