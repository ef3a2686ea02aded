/**
 * setup-pod installs Blender as the bpy module in its venv, not as a `blender` binary. A target
 * left at the default `blender` must still render on such a pod: the host job and the preflight
 * use the venv's Python where no `blender` is on PATH. Here a PATH without blender stands in for
 * the pod, and setup-pod's prefix holds the real bpy 4.5 venv of blender/requirements.txt.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { blenderScriptCommand, blenderVersionCommand } from "../../src/render/launcher.js";
import { describeWithPodPython } from "../helpers/blender.js";
import { makeTempDir } from "../helpers/cli.js";

const HOST = join(import.meta.dirname, "..", "..", "blender", "host");
const temp = makeTempDir("pf-bpy-fallback-");
afterAll(() => temp.cleanup());

/** A PATH with every tool of /usr/bin except blender (Debian 12's /bin is /usr/bin). */
function pathWithoutBlender(): string {
  const bin = join(temp.dir, "bin");
  mkdirSync(bin, { recursive: true });
  for (const name of readdirSync("/usr/bin")) {
    if (name !== "blender") symlinkSync(join("/usr/bin", name), join(bin, name));
  }
  return bin;
}

/** setup-pod's layout: <PF_PREFIX>/venv is the venv with bpy. */
function podPrefix(python: string): string {
  const prefix = join(temp.dir, "tools");
  mkdirSync(prefix, { recursive: true });
  symlinkSync(dirname(dirname(python)), join(prefix, "venv"));
  return prefix;
}

function hostScript(...files: string[]): string {
  return files.map((f) => readFileSync(join(HOST, f), "utf8")).join("\n");
}

describeWithPodPython("the default `blender` on a pod with only setup-pod's bpy", (python) => {
  const path = pathWithoutBlender();
  const prefix = podPrefix(python);
  const env = { PATH: path, PF_PREFIX: prefix, HOME: temp.dir };
  const render = join(HOST, "..", "render.py");

  it("renders with the venv's Python: same script and arguments, module launcher", () => {
    const command = blenderScriptCommand("blender", render, ["--job", "/nonexistent/job.json"]);
    const out = execFileSync(
      "/usr/bin/bash",
      ["-c", `${hostScript("lib.sh")}\npf_render_command "$1"`, "_", command],
      { env, encoding: "utf8" },
    );
    expect(out).toBe(
      `${join(prefix, "venv", "bin", "python")} ${render} -- --job /nonexistent/job.json`,
    );
    // It really runs: render.py under bpy answers a missing job with exit 2 (bad job).
    const run = spawnSync("/usr/bin/bash", ["-c", out], { env, encoding: "utf8" });
    expect(run.status).toBe(2);
    expect(run.stderr + run.stdout).toMatch(/job/i);
  });

  it("keeps the command where a blender binary is on PATH, or where no venv has bpy", () => {
    const command = blenderScriptCommand("blender", render, ["--job", "j.json"]);
    const withBlender = execFileSync(
      "/usr/bin/bash",
      ["-c", `${hostScript("lib.sh")}\npf_render_command "$1"`, "_", command],
      { env: { ...env, PATH: `${path}:/usr/bin` }, encoding: "utf8" },
    );
    expect(withBlender).toBe(command);
    const noVenv = execFileSync(
      "/usr/bin/bash",
      ["-c", `${hostScript("lib.sh")}\npf_render_command "$1"`, "_", command],
      { env: { ...env, PF_PREFIX: join(temp.dir, "nothing") }, encoding: "utf8" },
    );
    expect(noVenv).toBe(command);
  });

  it("the preflight finds that Blender", () => {
    const out = execFileSync("/usr/bin/bash", ["-s"], {
      input: hostScript("lib.sh", "group.sh", "preflight.sh"),
      env: {
        ...env,
        PF_BLENDER_VERSION_COMMAND: blenderVersionCommand("blender"),
        PF_WORKDIR: temp.dir,
      },
      encoding: "utf8",
    });
    expect(out).toMatch(/^blender: 4\.5\.\d+$/m);
  });
});
