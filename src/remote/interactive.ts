/**
 * An interactive program on this terminal (OpenSSH's `ssh` for `posefactory pod ssh`):
 * stdio inherited, exit code returned.
 */
import { execa } from "execa";

export async function runInteractive(command: string[]): Promise<number> {
  const [file, ...args] = command;
  if (!file) throw new Error("runInteractive: empty command");
  const result = await execa(file, args, { stdio: "inherit", reject: false });
  return result.exitCode ?? 1;
}
