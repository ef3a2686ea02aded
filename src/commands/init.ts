import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { CONFIG_FILE_NAME } from "../config/find.js";
import { STARTER_CONFIG } from "../config/starter.js";
import { UsageError } from "../errors.js";
import { flag } from "./options.js";
import { defineCommand } from "./types.js";

export const command = defineCommand({
  name: "init",
  description: "write a commented starter posefactory.yaml in the current folder",
  options: { force: flag("--force", "overwrite an existing posefactory.yaml") },
  needsConfig: false,
  async run(_args, options, ctx) {
    const path = resolve(ctx.cwd, ctx.global.config ?? CONFIG_FILE_NAME);
    if (existsSync(path) && !options.force) {
      throw new UsageError(
        `${path} already exists: edit it, or run \`posefactory init --force\` to overwrite it`,
      );
    }
    writeFileSync(path, STARTER_CONFIG);
    const characters = resolve(ctx.cwd, "characters");
    mkdirSync(characters, { recursive: true });
    ctx.logger.info(`wrote ${path}`);
    ctx.output.text(
      `Wrote ${path}. Put characters in ./characters (or run \`posefactory sample\`), then: posefactory pipeline`,
    );
    ctx.output.result({ path });
    return 0;
  },
});
