// Preloaded with `node --import <this file>`: appends the URL of every module the process
// loads to the file named by PF_MODULE_LOG (one per line), so a test can tell which parts a
// command pulled in.
import { register } from "node:module";

register("./module-log-hooks.mjs", import.meta.url);
