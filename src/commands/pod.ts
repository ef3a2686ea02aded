/**
 * `posefactory pod up|list|down|gc|ssh`: the pods of a runpod target. Only ours are ever
 * listed or touched (name posefactory-*, env POSEFACTORY_OWNER of this user and config).
 */
import { UsageError, UserError } from "../errors.js";
import { formatTable } from "../output.js";
import { flag } from "./options.js";
import { type CommandSpec, defineCommand } from "./types.js";

async function provider(ctx: Parameters<CommandSpec["run"]>[2]) {
  const m = await import("../runpod/provider.js");
  return { m, p: m.createPodProvider(ctx) };
}

/** `pod up`: create or reuse the kept pod, wait until usable, set it up, print the SSH command. */
export const up = defineCommand({
  name: "pod up",
  description:
    "create (or reuse) this target's pod, wait for SSH, set it up; print the SSH command",
  async run(_args, _options, ctx) {
    const { m, p } = await provider(ctx);
    const { ensureSetUp, startWatchdog } = await import("../runpod/pod-side.js");
    const { poseModelsOf } = await import("../remote/doctor.js");
    const ready = await m.ensurePod(p, {});
    try {
      const setup = await ensureSetUp(ready.executor, p.target, {
        poseModels: poseModelsOf(ctx.resolved.config.detect),
        logger: ctx.logger,
        signal: ctx.signal,
        onLine: (line) => ctx.logger.info(line),
      });
      // Without a run the watchdog only watches for idleness (and maxHours).
      await startWatchdog(ready.executor, {
        target: p.target,
        idleAction: "stop",
        podStartedAt: new Date(Date.parse(ready.pod.startedAt ?? ready.pod.createdAt)),
        costPerHour: ready.costPerHour,
        logger: ctx.logger,
      });
      const command = m.sshCommandOf(p, ready.pod).join(" ");
      ctx.output.text(
        `pod ${ready.pod.id} (${ready.pod.name}) is up: ${ready.pod.gpu?.id ?? "?"} at $${ready.costPerHour.toFixed(2)}/h; setup ${setup}`,
      );
      ctx.output.text(`  ${command}`);
      ctx.output.text(
        `It stops itself after ${p.target.idleMinutes} min without a job or a posefactory client; \`posefactory pod down\` terminates it.`,
      );
      ctx.output.result({
        podId: ready.pod.id,
        name: ready.pod.name,
        created: ready.created,
        costPerHour: ready.costPerHour,
        setup,
        ssh: command,
      });
    } finally {
      await ready.executor.close();
    }
    return 0;
  },
});

/** `pod list`: ours, with state, GPU, $/h, age and the cost so far. */
export const list = defineCommand({
  name: "pod list",
  description: "list this target's pods: id, state, GPU, $/h, age, cost so far",
  async run(_args, _options, ctx) {
    const { m, p } = await provider(ctx);
    const pods = await m.listOurPods(p);
    const now = Date.now();
    const rows = pods.map((pod) => {
      const age = m.podAgeSeconds(pod, now);
      return {
        id: pod.id,
        name: pod.name,
        status: pod.status,
        gpu: pod.gpu?.id ?? "",
        costPerHour: pod.cost,
        ageSeconds: Math.round(age),
        // The pod's current rate over its age: exact for a pod that ran all along.
        costSoFar: (age / 3600) * pod.cost,
      };
    });
    ctx.output.text(
      rows.length > 0
        ? formatTable([
            ["POD", "NAME", "STATE", "GPU", "$/H", "AGE", "COST"],
            ...rows.map((r) => [
              r.id,
              r.name,
              r.status,
              r.gpu,
              r.costPerHour.toFixed(2),
              formatAge(r.ageSeconds),
              `~$${r.costSoFar.toFixed(2)}`,
            ]),
          ])
        : `no pods of target ${p.targetName}`,
    );
    ctx.output.result({ pods: rows });
    return 0;
  },
});

/** `pod down [podId]`: terminate one of ours, or all of this target's. */
export const down = defineCommand({
  name: "pod down",
  description: "terminate this target's pods (or only [podId], which must be one of ours)",
  arguments: ["[podId]"],
  async run(args, _options, ctx) {
    const { m, p } = await provider(ctx);
    const podId = args[0] === undefined ? undefined : String(args[0]);
    const ours = await m.listOurPods(p);
    let victims = ours;
    if (podId) {
      victims = ours.filter((pod) => pod.id === podId);
      if (victims.length === 0) {
        throw new UsageError(
          `Pod ${podId} is not one of target ${p.targetName}'s pods (posefactory only terminates pods it created for this config): see \`posefactory pod list\``,
        );
      }
    }
    for (const pod of victims) await m.terminatePod(p, pod.id, "pod down");
    ctx.output.text(
      victims.length > 0
        ? `terminated ${victims.map((v) => `${v.id} (${v.name})`).join(", ")}`
        : `no pods of target ${p.targetName} to terminate`,
    );
    ctx.output.result({ terminated: victims.map((v) => v.id) });
    return 0;
  },
});

/**
 * `pod gc`: terminate ours that are past their lifetime: stopped or failed ones, any older
 * than maxHours, and run pods (`posefactory-<runId>`) whose run is not running here.
 */
export const gc = defineCommand({
  name: "pod gc",
  description:
    "terminate this target's pods past their lifetime (stopped, past maxHours, run over)",
  async run(_args, _options, ctx) {
    const { m, p } = await provider(ctx);
    const { readRunRecord } = await import("../pipeline/run-record.js");
    const { resolveUserPath } = await import("../config/credentials.js");
    const dataDir = resolveUserPath(ctx.resolved.config.data, ctx.resolved.baseDir);
    const ours = await m.listOurPods(p);
    const terminated: { id: string; why: string }[] = [];
    for (const pod of ours) {
      let why: string | undefined;
      if (pod.status === "EXITED" || pod.status === "ERROR") why = `${pod.status.toLowerCase()}`;
      else if (m.podAgeSeconds(pod) > p.target.maxHours * 3600)
        why = `older than maxHours (${p.target.maxHours} h)`;
      else if (pod.name !== m.KEEP_NAME) {
        const runId = pod.name.slice(m.POD_PREFIX.length);
        let status: string | undefined;
        try {
          status = readRunRecord(dataDir, runId)?.status;
        } catch {
          status = undefined;
        }
        if (status !== "running") why = `its run ${runId} is ${status ?? "not here"}`;
      }
      if (!why) continue;
      await m.terminatePod(p, pod.id, why);
      terminated.push({ id: pod.id, why });
    }
    ctx.output.text(
      terminated.length > 0
        ? terminated.map((t) => `terminated ${t.id}: ${t.why}`).join("\n")
        : "nothing to collect",
    );
    ctx.output.result({ terminated, kept: ours.length - terminated.length });
    return 0;
  },
});

/** `pod ssh [--print]`: a shell on this target's running pod, or print the command. */
export const ssh = defineCommand({
  name: "pod ssh",
  description: "open a shell on this target's running pod (--print: print the ssh command)",
  options: { print: flag("--print", "print the ssh command instead of running it") },
  async run(_args, options, ctx) {
    const { m, p } = await provider(ctx);
    const ours = (await m.listOurPods(p)).filter(
      (pod) => pod.status === "RUNNING" && pod.ssh?.direct,
    );
    const pod = ours.find((x) => x.name === m.KEEP_NAME) ?? ours[0];
    if (!pod) {
      throw new UserError(
        `No running pod of target ${p.targetName}: start one with \`posefactory pod up\``,
      );
    }
    const command = m.sshCommandOf(p, pod);
    if (options.print) {
      ctx.output.text(command.join(" "));
      ctx.output.result({ podId: pod.id, ssh: command });
      return 0;
    }
    const { heartbeatShell } = await import("../runpod/pod-side.js");
    const { runInteractive } = await import("../remote/interactive.js");
    return runInteractive([
      ...command.slice(0, -1),
      "-t",
      command.at(-1)!,
      heartbeatShell(p.target),
    ]);
  },
});

function formatAge(seconds: number): string {
  if (seconds < 3600) return `${Math.round(seconds / 60)}m`;
  return `${(seconds / 3600).toFixed(1)}h`;
}
