import { describe, expect, it } from "vitest";
import { parseConfigText } from "../../src/config/load.js";
import { buildRenderCommand } from "../../src/render/blender.js";
import {
  blenderScriptCommand,
  blenderVersionArgv,
  blenderVersionCommand,
  resolveLauncher,
} from "../../src/render/launcher.js";

describe("Blender launchers", () => {
  it("builds the binary's command line from a plain string", () => {
    expect(blenderScriptCommand("blender", "/b/render.py", ["--job", "job.json"])).toBe(
      "blender --background --factory-startup --python-exit-code 2 --python /b/render.py -- --job job.json",
    );
    expect(resolveLauncher("/opt/blender/blender")).toEqual({
      launcher: "binary",
      path: "/opt/blender/blender",
    });
  });

  it("builds the module command line: the venv's python runs the same script, args after --", () => {
    const setting = { launcher: "module", path: "/pod/venv/bin/python" } as const;
    expect(buildRenderCommand(setting, "job.json", "/in/blender")).toBe(
      "/pod/venv/bin/python /in/blender/render.py -- --job job.json",
    );
    expect(blenderVersionArgv(setting)).toEqual([
      "/pod/venv/bin/python",
      ["-c", 'import bpy; print("Blender " + bpy.app.version_string)'],
    ]);
    expect(blenderVersionCommand(setting)).toContain("/pod/venv/bin/python -c ");
    expect(blenderVersionCommand("blender")).toBe("blender --version 2>/dev/null");
  });

  it("accepts both forms of a target's blender: key and rejects an unknown launcher", () => {
    const config = parseConfigText(
      [
        "targets:",
        "  a: {executor: local}",
        "  b: {executor: local, blender: /usr/bin/blender}",
        "  c: {executor: local, blender: {launcher: module, path: /venv/bin/python}}",
        "",
      ].join("\n"),
      "x.yaml",
    );
    expect(config.targets.a?.blender).toBe("blender");
    expect(config.targets.b?.blender).toBe("/usr/bin/blender");
    expect(config.targets.c?.blender).toEqual({ launcher: "module", path: "/venv/bin/python" });
    expect(() =>
      parseConfigText(
        "targets: {a: {executor: local, blender: {launcher: snap, path: x}}}\n",
        "x.yaml",
      ),
    ).toThrow(/launcher/);
  });
});
