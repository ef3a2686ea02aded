/** The one registry of commands; cli.ts registers them in this order (as --help lists them). */
import { command as aliases } from "./aliases.js";
import { show as configShow, validate as configValidate } from "./config.js";
import { command as detect } from "./detect.js";
import { command as doctor } from "./doctor.js";
import { command as download } from "./download.js";
import { command as exec } from "./exec.js";
import { command as exportDataset } from "./export.js";
import { command as init } from "./init.js";
import { forget as knownHostsForget, list as knownHostsList } from "./known-hosts.js";
import { command as logs } from "./logs.js";
import { command as pipeline } from "./pipeline.js";
import {
  down as podDown,
  gc as podGc,
  list as podList,
  ssh as podSsh,
  up as podUp,
} from "./pod.js";
import { command as render } from "./render.js";
import { command as report } from "./report.js";
import { list as runsList, show as runsShow } from "./runs.js";
import { command as sample } from "./sample.js";
import { command as setupPod } from "./setup-pod.js";
import { command as status } from "./status.js";
import { command as stop } from "./stop.js";
import type { CommandSpec } from "./types.js";
import { command as upload } from "./upload.js";

export const commands: CommandSpec[] = [
  pipeline,
  upload,
  render,
  detect,
  download,
  report,
  exportDataset,
  runsList,
  runsShow,
  logs,
  status,
  stop,
  exec,
  setupPod,
  podUp,
  podList,
  podDown,
  podGc,
  podSsh,
  knownHostsList,
  knownHostsForget,
  doctor,
  init,
  sample,
  configValidate,
  configShow,
  aliases,
];
