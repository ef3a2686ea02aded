/** The one registry of commands; cli.ts registers them in this order. */
import { command as aliases } from "./aliases.js";
import { validate as configValidate, show as configShow } from "./config.js";
import { command as doctor } from "./doctor.js";
import { command as init } from "./init.js";
import { list as runsList, show as runsShow } from "./runs.js";
import type { CommandSpec } from "./types.js";

export const commands: CommandSpec[] = [init, configValidate, configShow, doctor, aliases, runsList, runsShow];
