import { homedir } from "node:os";
import { formatTable } from "../output.js";
import { forgetHost, knownHostsPath, listKnownHosts } from "../remote/host-keys.js";
import type { CommandSpec } from "./types.js";

function pathOf(env: NodeJS.ProcessEnv): string {
  return knownHostsPath(env.HOME || homedir(), env);
}

/** `posefactory known-hosts list`: the host keys posefactory has recorded. */
export const list: CommandSpec = {
  name: "known-hosts list",
  description: "list the host keys posefactory has recorded",
  needsConfig: false,
  async run(_args, _options, ctx) {
    const path = pathOf(ctx.env);
    const entries = await listKnownHosts(path);
    ctx.output.text(
      entries.length > 0
        ? formatTable(entries.map((e) => [e.host, e.type, e.fingerprint]))
        : `no host keys recorded yet (${path})`,
    );
    ctx.output.result({ path, hosts: entries });
    return 0;
  },
};

/** `posefactory known-hosts forget <host>`: after a host was rebuilt and its key changed. */
export const forget: CommandSpec = {
  name: "known-hosts forget",
  description: "forget the recorded key of <host> or <host:port> (after a pod was rebuilt)",
  arguments: ["<host>"],
  needsConfig: false,
  async run(args, _options, ctx) {
    const host = String(args[0]);
    const path = pathOf(ctx.env);
    const removed = await forgetHost(path, host);
    ctx.output.text(
      removed > 0
        ? `forgot ${removed} key${removed === 1 ? "" : "s"} of ${host}; the next connection records the new one`
        : `no key recorded for ${host} in ${path}`,
    );
    ctx.output.result({ host, removed, path });
    return 0;
  },
};
