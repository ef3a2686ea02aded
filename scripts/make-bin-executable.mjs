// After the build: every `bin` entry of package.json exists, starts with a shebang and is
// executable, so `npm link`, a global install and a plain `./dist/cli.js` all run it.
import { chmodSync, readFileSync } from "node:fs";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const bins = typeof pkg.bin === "string" ? { [pkg.name]: pkg.bin } : pkg.bin;
for (const [name, path] of Object.entries(bins)) {
  const file = new URL(`../${path}`, import.meta.url);
  let text;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new Error(`bin ${name}: ${path} was not built (package.json "bin" names it)`);
  }
  if (!text.startsWith("#!/usr/bin/env node"))
    throw new Error(`bin ${name}: ${path} does not start with "#!/usr/bin/env node"`);
  chmodSync(file, 0o755);
}
