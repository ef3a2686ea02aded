/**
 * How a target starts Blender: the one place that knows both command lines.
 *
 *   binary: blender --background --factory-startup --python-exit-code 2 --python <script> -- <args>
 *   module: <python with bpy> <script> -- <args>       (Blender as a Python module, the `bpy` wheel)
 *
 * The entry scripts (blender/render.py, make_sample_character.py) behave the same under both:
 * same arguments after `--`, same outputs, same exit codes (see blender/posefactory_bpy/entry.py).
 * A target's `blender:` key is either a string (a Blender executable, the binary launcher) or
 * `{launcher: binary|module, path}`.
 */
import { buildCommand, quoteShell } from "../remote/shell.js";

export type LauncherKind = "binary" | "module";

export interface BlenderLauncher {
  launcher: LauncherKind;
  /** The Blender executable (binary) or the Python interpreter that imports bpy (module). */
  path: string;
}

/** What a target's `blender:` key may hold (src/config/schema.ts `blenderSettingSchema`). */
export type BlenderSetting = string | { launcher: LauncherKind; path: string };

export const DEFAULT_BLENDER = "blender";

export function resolveLauncher(setting: BlenderSetting): BlenderLauncher {
  return typeof setting === "string"
    ? { launcher: "binary", path: setting }
    : { launcher: setting.launcher, path: setting.path };
}

/** For messages: `blender` or `bpy via /venv/bin/python`. */
export function describeLauncher(setting: BlenderSetting): string {
  const l = resolveLauncher(setting);
  return l.launcher === "binary" ? `\`${l.path}\`` : `bpy via \`${l.path}\``;
}

/** The command that runs one entry script; without --python-exit-code an exception exits 0. */
export function blenderScriptCommand(
  setting: BlenderSetting,
  script: string,
  scriptArgs: string[],
): string {
  const l = resolveLauncher(setting);
  if (l.launcher === "module") return buildCommand([l.path, script, "--", ...scriptArgs]);
  return buildCommand([
    l.path,
    "--background",
    "--factory-startup",
    "--python-exit-code",
    "2",
    "--python",
    script,
    "--",
    ...scriptArgs,
  ]);
}

const VERSION_CODE = 'import bpy; print("Blender " + bpy.app.version_string)';

/** The program and arguments that print `Blender <version>` (first line) for a launcher. */
export function blenderVersionArgv(setting: BlenderSetting): [string, string[]] {
  const l = resolveLauncher(setting);
  return l.launcher === "binary" ? [l.path, ["--version"]] : [l.path, ["-c", VERSION_CODE]];
}

/**
 * A shell command that prints `Blender <version> ...` as the binary's `--version` does (first
 * line), whichever the launcher; prints nothing when Blender is not there.
 */
export function blenderVersionCommand(setting: BlenderSetting): string {
  const l = resolveLauncher(setting);
  if (l.launcher === "binary") return `${quoteShell(l.path)} --version 2>/dev/null`;
  return `${quoteShell(l.path)} -c ${quoteShell(VERSION_CODE)} 2>/dev/null | grep '^Blender '`;
}
