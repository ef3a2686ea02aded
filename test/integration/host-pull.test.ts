/**
 * job.sh's pull step with real rclone against s3rver: every input of inputs.txt in one copy,
 * a listed file storage lacks is exit 20 naming it, and the run's assets/ holds exactly its
 * backgrounds and animations even when the host's inputs cache has others.
 */
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HOST_SCRIPTS_DIR } from "../../src/jobs/host-scripts.js";
import { makeTempDir } from "../helpers/cli.js";
import { type S3rverHandle, startS3rver } from "../helpers/s3rver.js";

let s3: S3rverHandle;
let temp: ReturnType<typeof makeTempDir>;
let env: NodeJS.ProcessEnv;

/** bash in `cwd` with lib.sh and rclone.sh in place, as the job runner lays them out. */
function bash(cwd: string, script: string, extra: NodeJS.ProcessEnv = {}) {
  mkdirSync(cwd, { recursive: true });
  copyFileSync(join(HOST_SCRIPTS_DIR, "lib.sh"), join(cwd, ".pf-lib.sh"));
  copyFileSync(join(HOST_SCRIPTS_DIR, "rclone.sh"), join(cwd, ".pf-rclone.sh"));
  copyFileSync(join(HOST_SCRIPTS_DIR, "job.sh"), join(cwd, "job.sh"));
  const r = spawnSync("bash", ["--noprofile", "--norc", "-c", script], {
    cwd,
    env: { ...env, ...extra },
    encoding: "utf8",
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

beforeAll(async () => {
  s3 = await startS3rver({ buckets: ["pull"] });
  temp = makeTempDir("pf-pull-");
  env = {
    PATH: process.env.PATH,
    HOME: temp.home,
    PF_S3_BUCKET: "pull",
    PF_S3_REGION: "auto",
    PF_S3_ACCESS_KEY_ID: "S3RVER",
    PF_S3_SECRET_ACCESS_KEY: "S3RVER",
    PF_S3_FORCE_PATH_STYLE: "true",
    PF_S3_ENDPOINT: s3.endpoint,
  };
  // What `upload` put in storage: p/inputs/{characters,blender,backgrounds,animations}/...
  const local = join(temp.dir, "local");
  for (const [rel, text] of [
    ["characters/a.fbx", "character a"],
    ["characters/b.fbx", "character b"],
    ["blender/render.py", "print('render')"],
    ["blender/posefactory_bpy/job.py", "job"],
    ["backgrounds/sky.hdr", "sky"],
    ["backgrounds/wall.jpg", "wall"],
    ["animations/wave.fbx", "wave"],
  ] as [string, string][]) {
    mkdirSync(join(local, rel, ".."), { recursive: true });
    writeFileSync(join(local, rel), text);
  }
  const up = bash(
    join(temp.dir, "up"),
    `. ./.pf-rclone.sh && pf_rclone copy ${local} "$(pf_remote p/inputs)"`,
  );
  expect(up.code, up.out).toBe(0);
}, 60_000);

afterAll(async () => {
  await s3?.stop();
  temp?.cleanup();
});

describe("job.sh pull", () => {
  const inputs = () => join(temp.dir, "pod", "inputs");
  const pull = (run: string, list: string[]) => {
    const dir = join(temp.dir, "pod", "runs", run);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "inputs.txt"), list.map((l) => `${l}\n`).join(""));
    return {
      dir,
      ...bash(dir, "bash --noprofile --norc ./job.sh", {
        PF_STEPS: "pull",
        PF_INPUTS: inputs(),
        PF_INPUTS_KEY: "p/inputs",
      }),
    };
  };

  it("pulls the listed inputs and links exactly the run's backgrounds and animations", async () => {
    // An earlier run's background, still in the host's inputs cache.
    mkdirSync(join(inputs(), "backgrounds"), { recursive: true });
    writeFileSync(join(inputs(), "backgrounds", "old.png"), "old");
    await s3.resetRequests();
    const r = pull("r1", [
      "characters/a.fbx",
      "blender/render.py",
      "blender/posefactory_bpy/job.py",
      "backgrounds/sky.hdr",
      "backgrounds/wall.jpg",
      "animations/wave.fbx",
    ]);
    expect(r.code, r.out).toBe(0);
    expect(readFileSync(join(inputs(), "blender/posefactory_bpy/job.py"), "utf8")).toBe("job");
    expect(readFileSync(join(inputs(), "characters/a.fbx"), "utf8")).toBe("character a");
    // Only what the run lists: not every character of the store.
    expect(existsSync(join(inputs(), "characters/b.fbx"))).toBe(false);
    expect(readdirSync(join(r.dir, "assets", "backgrounds")).sort()).toEqual([
      "sky.hdr",
      "wall.jpg",
    ]);
    expect(readFileSync(join(r.dir, "assets", "animations", "wave.fbx"), "utf8")).toBe("wave");
    // Only the listed objects were read from storage.
    const read = (await s3.requests())
      .filter((q) => q.method === "GET" && !q.path.includes("?"))
      .map((q) => q.path.replace("/pull/p/inputs/", ""))
      .sort();
    expect(read).toEqual([
      "animations/wave.fbx",
      "backgrounds/sky.hdr",
      "backgrounds/wall.jpg",
      "blender/posefactory_bpy/job.py",
      "blender/render.py",
      "characters/a.fbx",
    ]);
  });

  it("exits 20 naming a listed input storage does not have", () => {
    const r = pull("r2", ["characters/a.fbx", "backgrounds/gone.hdr"]);
    expect(r.code).toBe(20);
    expect(r.out).toContain("not in storage: p/inputs/backgrounds/gone.hdr");
    expect(existsSync(join(r.dir, "assets"))).toBe(false);
  });
});
