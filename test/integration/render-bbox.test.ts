/**
 * The fast bounding box (cameras.bbox: fast) against the exact pass, with real Blender, on
 * the generated characters: the sample walker (FBX, rigid parts), the two-clip GLB, and a
 * realistic-size one (about 24k smoothly skinned vertices) whose blended joints exercise
 * linear blend skinning; and variants of the walker: with bone constraints (its pose then
 * read from Blender), with keys between frames (eased and stepped curves), with Euler
 * rotations and a delta transform on the armature, with unskinned boxes parented to a bone and
 * to the armature and a small skinned one, with a UV map named like a vertex group, with a
 * static shape key (the skinning starts from the mixed shape).
 * The fast box must contain the exact one and differ from it only by rounding (with the
 * weights read through geometry nodes or vertex by vertex), the renders must still fit, and a
 * mesh the fast box cannot follow makes the clip fall back to the exact pass, recorded in the
 * manifest.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createSilentLogger } from "../../src/log.js";
import { createLocalExecutor } from "../../src/remote/local.js";
import type { Job } from "../../src/render/job.schema.js";
import type { Manifest } from "../../src/render/manifest.js";
import { blenderScriptCommand } from "../../src/render/sample.js";
import {
  describeEachBlender,
  getSampleCharacters,
  makeJob,
  maskStats,
  readAlpha,
  renderJob,
  type TestBlender,
} from "../helpers/blender.js";
import { getDenseCharacter } from "../helpers/dense-character.js";

type Clip = Manifest["characters"][number]["clips"][number];

/** The sample walker changed by `change` (Python lines; `mesh`, `armature`) saved as a .blend. */
async function makeVariantBlend(
  blender: TestBlender,
  fbx: string,
  out: string,
  change: string[],
): Promise<void> {
  const source = [
    "import bpy",
    `bpy.ops.import_scene.fbx(filepath=${JSON.stringify(fbx)})`,
    "mesh = max((o for o in bpy.data.objects if o.type == 'MESH'), key=lambda o: len(o.data.vertices))",
    "armature = next(o for o in bpy.data.objects if o.type == 'ARMATURE')",
    ...change,
    `bpy.ops.wm.save_as_mainfile(filepath=${JSON.stringify(out)})`,
  ].join("\n");
  const script = `${out}.py`;
  writeFileSync(script, source);
  const executor = createLocalExecutor({ logger: createSilentLogger(), baseDir: tmpdir() });
  const result = await executor.run(blenderScriptCommand(blender.setting, script, []));
  if (result.exitCode !== 0) throw new Error(`making ${out} failed (exit ${result.exitCode})`);
}

function clipsOf(manifest: Manifest): Map<string, Clip> {
  const clips = new Map<string, Clip>();
  for (const character of manifest.characters) {
    expect(character.status, `${character.name}: ${character.error}`).toBe("ok");
    for (const clip of character.clips) clips.set(`${character.name}/${clip.name}`, clip);
  }
  return clips;
}

describeEachBlender("render: fast bounding box vs the exact pass", (blender) => {
  const dir = mkdtempSync(join(tmpdir(), "pf-bbox-"));
  let fast: Manifest;
  let exact: Manifest;
  let fastJob: Job;

  beforeAll(async () => {
    const sample = await getSampleCharacters(blender);
    const dense = await getDenseCharacter({ frames: 120 }, blender);
    const variants = {
      // a mesh the fast box cannot follow
      smoothed: ["mesh.modifiers.new('Smooth', 'SMOOTH')"],
      // a pose only Blender evaluates: every bone's rotation limited
      constrained: [
        "for bone in armature.pose.bones:",
        "    limit = bone.constraints.new('LIMIT_ROTATION')",
        "    limit.use_limit_x = limit.use_limit_y = limit.use_limit_z = True",
        "    limit.min_x = limit.min_y = limit.min_z = -0.3",
        "    limit.max_x = limit.max_y = limit.max_z = 0.3",
      ],
      // keys between frames: every third kept, eased (Blender evaluates), stepped or linear
      // (numpy: the curves share their key times, so they are interpolated together)
      eased: [
        "data = armature.animation_data",
        "try:",
        "    from bpy_extras.anim_utils import action_get_channelbag_for_slot",
        "    curves = action_get_channelbag_for_slot(data.action, data.action_slot).fcurves",
        "except ImportError:  # before slotted actions (Blender 4.4)",
        "    curves = data.action.fcurves",
        "for n, curve in enumerate(curves):",
        "    points = curve.keyframe_points",
        "    for i in range(len(points) - 2, 0, -1):",
        "        if i % 3:",
        "            points.remove(points[i], fast=True)",
        "    for point in points:",
        "        point.interpolation = ('BEZIER', 'CONSTANT', 'LINEAR')[n % 3]",
        "    curve.update()",
      ],
      // bones turned by Euler angles in three orders (keyed), the armature by a delta rotation too
      turned: [
        "for n, bone in enumerate(armature.pose.bones):",
        "    bone.rotation_mode = ('XYZ', 'ZXY', 'YZX')[n % 3]",
        "    bone.rotation_euler = (0.1, -0.2, 0.3)",
        "    bone.keyframe_insert('rotation_euler', frame=1)",
        "    bone.rotation_euler = (-0.2, 0.3, 0.1)",
        "    bone.keyframe_insert('rotation_euler', frame=30)",
        "armature.rotation_mode = 'XYZ'",
        "armature.delta_rotation_euler = (0.0, 0.0, 0.5)",
        "armature.delta_scale = (1.2, 1.2, 1.2)",
      ],
      // unskinned parts that move with the rig: a box on a bone (hand or head), one on the armature
      propped: [
        "import bmesh",
        "for name, bone in (('Held', max(armature.data.bones, key=lambda b: b.head_local.z).name), ('Worn', None)):",
        "    data = bpy.data.meshes.new(name)",
        "    shape = bmesh.new()",
        "    bmesh.ops.create_cube(shape, size=40.0)",
        "    shape.to_mesh(data)",
        "    prop = bpy.data.objects.new(name, data)",
        "    bpy.context.scene.collection.objects.link(prop)",
        "    prop.parent = armature",
        "    if bone:",
        "        prop.parent_type, prop.parent_bone = 'BONE', bone",
        "    prop.location = (0.0, 20.0, 0.0) if bone else (60.0, 0.0, 90.0)",
        // and a small skinned one (its weights read vertex by vertex): a strap blended over
        // the top bone and its parent
        "top = max(armature.data.bones, key=lambda b: b.head_local.z)",
        "data = bpy.data.meshes.new('Strap')",
        "shape = bmesh.new()",
        "bmesh.ops.create_cube(shape, size=30.0)",
        "shape.to_mesh(data)",
        "strap = bpy.data.objects.new('Strap', data)",
        "bpy.context.scene.collection.objects.link(strap)",
        "strap.parent = armature",
        "strap.location = top.head_local",
        "strap.modifiers.new('Armature', 'ARMATURE').object = armature",
        "upper, lower = strap.vertex_groups.new(name=top.name), strap.vertex_groups.new(name=top.parent.name)",
        "for v in data.vertices:",
        "    upper.add([v.index], 1.0 if v.co.z > 0 else 0.5, 'REPLACE')",
        "    if v.co.z <= 0:",
        "        lower.add([v.index], 0.5, 'REPLACE')",
      ],
      // a UV map named like a vertex group: geometry nodes could not tell them apart, so the
      // weights are read vertex by vertex
      named: ["mesh.data.uv_layers.new(name=mesh.vertex_groups[0].name)"],
      // skinning starts from a mixed shape: half-way to every vertex 15% farther out
      shaped: [
        "mesh.shape_key_add(name='Basis')",
        "grown = mesh.shape_key_add(name='Grown')",
        "for point in grown.data:",
        "    point.co = point.co * 1.15",
        "grown.value = 0.5",
      ],
    };
    const characters = [
      { name: "walker", file: sample.fbx, sha256: "-" },
      { name: "two-clips", file: sample.glb, sha256: "-" },
      { name: "dense", file: dense, sha256: "-" },
    ];
    for (const [name, change] of Object.entries(variants)) {
      const file = join(dir, `${name}.blend`);
      await makeVariantBlend(blender, sample.fbx, file, change);
      characters.push({ name, file, sha256: "-" });
    }
    const cameras = makeJob({ characters: [], outDir: "" }).cameras;
    fastJob = makeJob({
      characters,
      outDir: join(dir, "fast"),
      cameras: { ...cameras, bbox: "fast" },
    });
    fast = await renderJob(fastJob, { blender });
    exact = await renderJob(
      makeJob({
        characters,
        outDir: join(dir, "exact"),
        cameras: { ...cameras, bbox: "exact" },
        outputs: { rgb: false, mask: false, depth: false, normals: false, keypoints: false },
      }),
      { blender },
    );
  }, 600_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("records the mode and how the poses were found per clip; a mesh the fast box cannot follow falls back to exact", () => {
    for (const [name, clip] of clipsOf(exact)) {
      expect(clip.bboxMode, name).toBe("exact");
      expect(clip.bboxFallback, name).toBeUndefined();
    }
    for (const [name, clip] of clipsOf(fast)) {
      if (name.startsWith("smoothed/")) {
        expect(clip.bboxMode, name).toBe("exact");
        expect(clip.bboxFallback, name).toMatch(/SMOOTH/);
      } else {
        expect(clip.bboxMode, name).toBe("fast");
        expect(clip.bboxFallback, name).toBeUndefined();
      }
    }
    const poses = Object.fromEntries(
      [...clipsOf(fast)].map(([name, clip]) => [name, clip.bboxPoses]),
    );
    const computed = expect.stringMatching(/^computed/); // keyed bones: no scene evaluation per frame
    expect(poses).toMatchObject({
      "walker/mixamo.com": computed,
      "two-clips/Walk": computed,
      "two-clips/Wave": computed,
      "dense/mixamo.com": computed,
      "shaped/mixamo.com": computed,
      "eased/mixamo.com": computed,
      "propped/mixamo.com": computed,
      "turned/mixamo.com": computed,
      "named/mixamo.com": computed,
      "constrained/mixamo.com": expect.stringMatching(/^by Blender \(bone .* has constraints\)/),
    });
    // Weights through geometry nodes on Blender 4+ for a large mesh, else vertex by vertex
    // (bbox.py read_rest); the renders below show the node group left nothing behind.
    const clips = clipsOf(fast);
    expect(clips.get("dense/mixamo.com")?.bboxWeights).toBe(
      blender.id === "binary" ? "vertices" : "nodes",
    );
    expect(clips.get("propped/mixamo.com")?.bboxWeights).toBe(
      blender.id === "binary" ? "vertices" : "nodes+vertices",
    );
    expect(clips.get("named/mixamo.com")?.bboxWeights).toBe("vertices");
    expect(clips.get("smoothed/mixamo.com")?.bboxWeights).toBeUndefined();
  });

  it("the fast box contains the exact one and differs from it only by rounding", () => {
    const exactClips = clipsOf(exact);
    const fastClips = clipsOf(fast);
    expect([...fastClips.keys()].sort()).toEqual([...exactClips.keys()].sort());
    expect(fastClips.size).toBe(11); // walker 1, two-clips 2, dense 1, 1 per variant
    // the props reach beyond the walker: the box follows them
    const walker = exactClips.get("walker/mixamo.com")!.bbox;
    const propped = exactClips.get("propped/mixamo.com")!.bbox;
    const grown = [0, 1, 2].map(
      (a) => propped.max[a]! - propped.min[a]! - (walker.max[a]! - walker.min[a]!),
    );
    expect(Math.max(...grown), JSON.stringify({ walker, propped })).toBeGreaterThan(0.1);
    for (const [name, e] of exactClips) {
      const f = fastClips.get(name)!;
      for (let axis = 0; axis < 3; axis++) {
        const where = `${name} axis ${axis}: fast ${JSON.stringify(f.bbox)} exact ${JSON.stringify(e.bbox)}`;
        expect(f.bbox.min[axis]!, where).toBeLessThanOrEqual(e.bbox.min[axis]!);
        expect(f.bbox.max[axis]!, where).toBeGreaterThanOrEqual(e.bbox.max[axis]!);
        const exactSize = e.bbox.max[axis]! - e.bbox.min[axis]!;
        const fastSize = f.bbox.max[axis]! - f.bbox.min[axis]!;
        // the pad: 20 um, plus 1e-5 of the coordinates' size (bbox.py float_pad)
        expect(fastSize - exactSize, where).toBeLessThanOrEqual(2e-4);
      }
    }
  });

  it("renders framed with the fast box fit: the character fills the frame, off the border", async () => {
    for (const character of fast.characters.filter((c) =>
      ["walker", "two-clips", "dense"].includes(c.name),
    )) {
      expect(character.images.length).toBeGreaterThan(0);
      for (const image of character.images) {
        const stats = maskStats(await readAlpha(join(fastJob.outDir, image.path)));
        const where = `${image.path}: ${JSON.stringify(stats)}`;
        expect(stats.pixels, where).toBeGreaterThan(0);
        expect(stats.touchesBorder, where).toBe(false);
        expect(stats.extent, where).toBeGreaterThanOrEqual(0.4);
      }
    }
  });
});
