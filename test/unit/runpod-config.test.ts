import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfigText } from "../../src/config/load.js";
import { loadRunpodApiKey } from "../../src/runpod/credentials.js";
import { clearSecretsForTests, scrubSecrets } from "../../src/secrets.js";

const dir = mkdtempSync(join(tmpdir(), "pf-rp-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const target = (extra: string) =>
  `targets:\n  gpu:\n    executor: runpod\n    storage: {type: s3, bucket: abc}\n${extra}`;

describe("the runpod target", () => {
  it("fills the contract's defaults", () => {
    const config = parseConfigText(target(""), "posefactory.yaml");
    expect(config.targets.gpu).toMatchObject({
      executor: "runpod",
      gpuCount: 1,
      cloud: "SECURE",
      lifetime: "run",
      idleMinutes: 20,
      maxHours: 6,
      startTimeoutMinutes: 15,
      setup: "auto",
    });
  });

  it("allows fractions of idleMinutes and refuses volumeGb with networkVolumeId", () => {
    expect(parseConfigText(target("    idleMinutes: 0.5\n"), "p.yaml").targets.gpu).toMatchObject({
      idleMinutes: 0.5,
    });
    expect(() =>
      parseConfigText(target("    volumeGb: 20\n    networkVolumeId: v1\n"), "p.yaml"),
    ).toThrow(/volumeGb or networkVolumeId/);
    const warnings: string[] = [];
    parseConfigText(target("    apiKey: rpa_x\n"), "p.yaml", {}, (w) => warnings.push(w));
    expect(warnings.join("\n")).toContain("apiKey");
  });
});

describe("the RunPod API key", () => {
  it("comes from RUNPOD_API_KEY first, and is scrubbed from output", () => {
    clearSecretsForTests();
    const key = loadRunpodApiKey({}, { baseDir: dir, env: { RUNPOD_API_KEY: "rpa_FROMENV123" } });
    expect(key).toEqual({ apiKey: "rpa_FROMENV123", source: "RUNPOD_API_KEY" });
    expect(scrubSecrets("key rpa_FROMENV123 here")).toBe("key [redacted] here");
  });

  it("reads a 0600 credentials file and refuses a looser one with the chmod fix", () => {
    const file = join(dir, "runpod.env");
    writeFileSync(file, "# mine\nRUNPOD_API_KEY='rpa_FROMFILE456'\n");
    chmodSync(file, 0o644);
    expect(() => loadRunpodApiKey({ credentialsFile: file }, { baseDir: dir, env: {} })).toThrow(
      `run chmod 600 ${file}`,
    );
    chmodSync(file, 0o600);
    expect(loadRunpodApiKey({ credentialsFile: file }, { baseDir: dir, env: {} }).apiKey).toBe(
      "rpa_FROMFILE456",
    );
  });

  it("says how to get one when there is none", () => {
    expect(() => loadRunpodApiKey({}, { baseDir: dir, env: {} })).toThrow(/export RUNPOD_API_KEY/);
  });
});
