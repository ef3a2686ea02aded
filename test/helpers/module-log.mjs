// Preloaded with `node --import <this file>`: appends the URL of every module the process
// loads to the file named by PF_MODULE_LOG (one per line), so a test can tell which parts a
// command pulled in. ES modules through Node's loader hooks; the bin's bundle chunks, which
// its launcher compiles as vm.Script (src/launch/code-cache.ts), through vm.Script itself.
import { appendFileSync } from "node:fs";
import { register } from "node:module";
import { pathToFileURL } from "node:url";
import vm from "node:vm";

register("./module-log-hooks.mjs", import.meta.url);

const { Script } = vm;
vm.Script = class LoggedScript extends Script {
  constructor(code, options) {
    super(code, options);
    const file = typeof options === "string" ? options : options?.filename;
    if (process.env.PF_MODULE_LOG && file?.startsWith("/"))
      appendFileSync(process.env.PF_MODULE_LOG, `${pathToFileURL(file).href}\n`);
  }
};
