/**
 * 20 small remote commands: over posefactory's one ssh2 connection (connect included)
 * vs 20 separate OpenSSH `ssh` invocations (BatchMode, same key), as a user's alias does.
 * Both against the same local sshd. Prints both timings and the ratio.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createSilentLogger } from "../../src/log.js";
import { createExecutor } from "../../src/remote/index.js";
import { opensshArgs, sshTargetFor, startSshd } from "../helpers/sshd.js";

const run = promisify(execFile);
const COUNT = 20;

const server = await startSshd();
const home = mkdtempSync(join(tmpdir(), "pf-bench-remote-"));
try {
  const target = sshTargetFor(server);
  const sshArgs = opensshArgs(server, join(home, "known_hosts"));
  // Warm up both paths once (host key recorded, page cache warm).
  await run("ssh", [...sshArgs, "true"]);
  const warm = await createExecutor(target, {
    logger: createSilentLogger(),
    baseDir: home,
    home,
    env: process.env,
  });
  await warm.run("true");
  await warm.close();

  const t0 = performance.now();
  const executor = await createExecutor(target, {
    logger: createSilentLogger(),
    baseDir: home,
    home,
    env: process.env,
  });
  for (let i = 0; i < COUNT; i++) {
    const result = await executor.run(`echo ${i}`);
    if (result.exitCode !== 0) throw new Error(`posefactory run ${i} failed`);
  }
  await executor.close();
  const oneConnection = performance.now() - t0;

  const t1 = performance.now();
  for (let i = 0; i < COUNT; i++) await run("ssh", [...sshArgs, `echo ${i}`]);
  const separate = performance.now() - t1;

  console.log(
    `remote: ${COUNT} commands over one posefactory connection (connect included): ${oneConnection.toFixed(0)} ms`,
  );
  console.log(
    `remote: ${COUNT} separate ssh invocations (OpenSSH, BatchMode): ${separate.toFixed(0)} ms`,
  );
  console.log(`remote: ratio separate/one-connection = ${(separate / oneConnection).toFixed(2)}x`);
} finally {
  await server.stop();
  rmSync(home, { recursive: true, force: true });
}
