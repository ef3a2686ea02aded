import { loadS3Credentials, resolveUserPath } from "../config/credentials.js";
import type { Context } from "../context.js";
import { formatTable } from "../output.js";
import { blenderVersionArgv } from "../render/launcher.js";
import type { CommandSpec } from "./types.js";

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** What to do when not ok. */
  fix?: string;
}

const INSTALL_HINT =
  process.platform === "darwin" ? "brew install --cask blender" : "sudo apt-get install -y blender";

/** Checks that need nothing but this machine: config, credentials, local tools. */
export async function checkLocal(ctx: Context): Promise<Check[]> {
  const { resolved } = ctx;
  const checks: Check[] = [
    {
      name: "config",
      ok: true,
      detail: `${resolved.path ?? "no file: defaults"} (target ${resolved.targetName}, ${resolved.target.executor})`,
      fix: resolved.path ? undefined : "posefactory init",
    },
  ];
  const storage = resolved.target.storage;
  if (storage.type === "s3") {
    try {
      const creds = loadS3Credentials(storage, { baseDir: resolved.baseDir, env: ctx.env });
      checks.push({ name: "credentials", ok: true, detail: `from ${creds.source}` });
    } catch (error) {
      checks.push({
        name: "credentials",
        ok: false,
        detail: (error as Error).message,
        fix: "export POSEFACTORY_S3_ACCESS_KEY_ID=... POSEFACTORY_S3_SECRET_ACCESS_KEY=...",
      });
    }
  } else {
    checks.push({
      name: "storage",
      ok: true,
      detail: `local folder ${resolveUserPath(storage.path, resolved.baseDir)}`,
    });
  }
  const localBlender =
    resolved.config.targets.local?.executor === "local"
      ? resolved.config.targets.local.blender
      : "blender";
  const tools: [string, string, string[], RegExp, string][] = [
    ["blender", ...blenderVersionArgv(localBlender), /^Blender\s+(\S+)/, INSTALL_HINT],
    [
      "rclone",
      "rclone",
      ["version"],
      /^rclone\s+v?(\S+)/,
      process.platform === "darwin" ? "brew install rclone" : "sudo apt-get install -y rclone",
    ],
    [
      "ssh",
      "ssh",
      ["-V"],
      /^(OpenSSH\S*)/,
      process.platform === "darwin"
        ? "(ships with macOS)"
        : "sudo apt-get install -y openssh-client",
    ],
  ];
  // execa loads only when doctor runs: it costs every other command's start-up otherwise.
  const { probeTool } = await import("../remote/probe.js");
  const probes = await Promise.all(
    tools.map(([, cmd, args, pattern]) => probeTool(cmd, args, pattern)),
  );
  tools.forEach(([name, cmd, , , fix], i) => {
    const probe = probes[i]!;
    // Only the tools the current target needs locally are failures; the rest are information.
    const needed =
      name === "blender"
        ? resolved.target.executor === "local"
        : name === "ssh"
          ? resolved.target.executor === "ssh"
          : false;
    checks.push({
      name,
      ok: probe.found || !needed,
      detail: probe.found
        ? `${probe.version} (${cmd})`
        : `not found (${cmd})${needed ? "" : ", not needed by this target"}`,
      fix: probe.found ? undefined : fix,
    });
  });
  return checks;
}

/** Storage reachable, bucket there, credentials accepted (one cheap request). */
async function checkStorageOf(ctx: Context): Promise<Check[]> {
  const { checkStorage } = await import("../storage/index.js");
  try {
    return await checkStorage(await ctx.storage(), { signal: ctx.signal });
  } catch (error) {
    return [{ name: "storage", ok: false, detail: (error as Error).message }];
  }
}

/** An ssh target: reachable, host key, tool versions and GPU on the host. */
async function checkTarget(ctx: Context): Promise<Check[]> {
  if (ctx.resolved.target.executor === "runpod") {
    const { checkRunpod } = await import("../runpod/provider.js");
    return checkRunpod(ctx);
  }
  if (ctx.resolved.target.executor !== "ssh") return [];
  const { checkRemote } = await import("../remote/doctor.js");
  const { characterInputs, needsOf, runPreflight } = await import("../pipeline/preflight.js");
  const { config, baseDir } = ctx.resolved;
  const needs = needsOf(
    config,
    ctx.resolved.target,
    await characterInputs(resolveUserPath(config.characters, baseDir)),
  );
  const { createExecutor } = await import("../remote/index.js");
  // A health check answers in seconds: do not wait minutes for a pod that is not up.
  const target = {
    ...ctx.resolved.target,
    connectTimeoutSeconds: Math.min(ctx.resolved.target.connectTimeoutSeconds, 15),
  };
  let executor: Awaited<ReturnType<typeof createExecutor>> | undefined;
  try {
    return await checkRemote(target, {
      connect: async () => {
        executor = await createExecutor(target, {
          logger: ctx.logger,
          baseDir: ctx.resolved.baseDir,
          env: ctx.env,
          home: ctx.env.HOME,
          signal: ctx.signal,
        });
        return executor;
      },
      preflight: (ex) => runPreflight(ex, needs, { signal: ctx.signal }),
      signal: ctx.signal,
    });
  } finally {
    await executor?.close();
  }
}

export const command: CommandSpec = {
  name: "doctor",
  description: "check the config, credentials, tools, storage and target, and say what to fix",
  needsConfig: false,
  async run(_args, _options, ctx) {
    const local = await checkLocal(ctx);
    const credentialsMissing = local.some((c) => c.name === "credentials" && !c.ok);
    const [storage, target] = await Promise.all([
      credentialsMissing ? [] : checkStorageOf(ctx),
      checkTarget(ctx),
    ]);
    const checks = [...local, ...storage, ...target];
    const rows = checks.map((c) => [
      c.ok ? "ok" : "FAIL",
      c.name,
      c.detail + (!c.ok && c.fix ? `\n      fix: ${c.fix}` : ""),
    ]);
    ctx.output.text(formatTable(rows));
    const ok = checks.every((c) => c.ok);
    ctx.output.result({ ok, checks });
    return ok ? 0 : 1;
  },
};
