/**
 * posefactory's own SSH key for pods it creates: generated once (ed25519, no passphrase, so
 * a headless run never prompts), private part mode 600. Its public part becomes the pod's
 * PUBLIC_KEY; the user's own ~/.ssh keys stay untouched.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import ssh2 from "ssh2";
import { posefactoryConfigDir } from "./host-keys.js";

export interface ClientKey {
  identityFile: string;
  publicKey: string;
}

export function clientKeyPath(home: string, env: NodeJS.ProcessEnv = {}): string {
  return join(posefactoryConfigDir(home, env), "pod_ed25519");
}

export function ensureClientKey(identityFile: string): ClientKey {
  if (!existsSync(identityFile) || !existsSync(`${identityFile}.pub`)) {
    const pair = ssh2.utils.generateKeyPairSync("ed25519", { comment: "posefactory" });
    mkdirSync(dirname(identityFile), { recursive: true, mode: 0o700 });
    writeFileSync(identityFile, pair.private, { mode: 0o600 });
    writeFileSync(`${identityFile}.pub`, `${pair.public}\n`, { mode: 0o644 });
  }
  return { identityFile, publicKey: readFileSync(`${identityFile}.pub`, "utf8").trim() };
}
