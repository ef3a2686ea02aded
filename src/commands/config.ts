import { loadS3Credentials } from "../config/credentials.js";
import type { CommandSpec } from "./types.js";

export const validate: CommandSpec = {
  name: "config validate",
  description: "check the config file; exit 2 with every problem and its line when invalid",
  async run(_args, _options, ctx) {
    // Loading the context already validated the file (and threw a UsageError otherwise).
    const { path, targetName } = ctx.resolved;
    ctx.output.text(`${path ?? "(defaults)"}: valid (target: ${targetName})`);
    ctx.output.result({ valid: true, path, target: targetName });
    return 0;
  },
};

export const show: CommandSpec = {
  name: "config show",
  description: "print the effective config (defaults, file, environment and flags merged)",
  async run(_args, _options, ctx) {
    const { config, path, targetName, target } = ctx.resolved;
    let credentials: string | undefined;
    if (target.storage.type === "s3") {
      try {
        credentials = loadS3Credentials(target.storage, {
          baseDir: ctx.resolved.baseDir,
          env: ctx.env,
        }).source;
      } catch (error) {
        credentials = `missing: ${(error as Error).message}`;
      }
    }
    const effective = { file: path ?? null, activeTarget: targetName, credentials, ...config };
    // Loaded on use: every other command starts without YAML (config/cache.ts). yaml is a
    // CommonJS package: its exports are `default`, from the bundle and from Node's import().
    const { stringify } = (await import("yaml")).default;
    ctx.output.text(stringify(effective).trimEnd());
    ctx.output.result(effective);
    return 0;
  },
};
