"""A realistic-size test character: the sample's skeleton with a dense, smoothly skinned mesh.

Run (either launcher, see blender/posefactory_bpy/entry.py):
    blender -b --factory-startup --python-exit-code 2 -P make_dense_character.py -- \
        --out dense.fbx [--frames 600] [--segments 30]
    python make_dense_character.py -- --out dense.fbx      (the bpy wheel)

Same bones, proportions, scale (centimetre FBX) and walk + gesture as the sample walker of
blender/make_sample_character.py, but the size of a real Mixamo character (about 24k vertices
with the default 30 segments, 600 frames) and blended weights like a real skin: near each
joint a vertex is shared between the bone and its parent or child, so the bounding-box tests
and benchmarks see linear blend skinning, not only rigid parts. Deterministic.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import bpy  # first: as a Python module, bpy is what makes bmesh and mathutils importable
import bmesh  # noqa: E402
from mathutils import Matrix, Vector  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "blender"))

import make_sample_character as sample  # noqa: E402
from posefactory_bpy import entry  # noqa: E402

# Fraction of a part's length at each end where its vertices blend with the next bone.
BLEND = 0.3


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make_dense_character.py")
    parser.add_argument("--out", required=True, help="FBX file to write")
    parser.add_argument("--frames", type=int, default=600, help="length of the clip")
    parser.add_argument("--segments", type=int, default=30, help="mesh density (around each limb)")
    return parser.parse_args(argv)


def main_child(bone: str) -> str | None:
    """The child a limb bends into (the chain's next bone), if there is exactly one."""
    children = [name for name, (_h, _t, parent) in sample.BONES.items() if parent == bone]
    return children[0] if len(children) == 1 else None


def add_part(bm: bmesh.types.BMesh, radius: float, a: Vector, b: Vector, segments: int) -> list[bmesh.types.BMVert]:
    """A capsule from a to b as rings of `segments` vertices: two hemispheres and a cylinder
    between them with as many rings along it, so a blended joint bends smoothly."""
    axis = b - a
    length = axis.length
    rot = (axis.to_track_quat("Z", "Y") if length > 1e-3 else Vector((0, 0, 1)).to_track_quat("Z", "Y")).to_matrix()
    caps = max(2, segments // 4)
    # (height along the axis, ring radius) from the pole at a to the pole at b
    profile = [(-radius * math.cos(math.pi / 2 * i / caps), radius * math.sin(math.pi / 2 * i / caps)) for i in range(1, caps + 1)]
    body = max(1, segments // 2) if length > 1e-3 else 0
    profile += [(length * i / body, radius) for i in range(1, body + 1)]
    profile += [(length + radius * math.sin(math.pi / 2 * i / caps), radius * math.cos(math.pi / 2 * i / caps)) for i in range(1, caps)]
    bottom = bm.verts.new(a + rot @ Vector((0, 0, -radius)))
    top = bm.verts.new(a + rot @ Vector((0, 0, length + radius)))
    rings: list[list[bmesh.types.BMVert]] = []
    for height, r in profile:
        ring = []
        for k in range(segments):
            angle = 2 * math.pi * k / segments
            ring.append(bm.verts.new(a + rot @ Vector((r * math.cos(angle), r * math.sin(angle), height))))
        rings.append(ring)
    for k in range(segments):
        k2 = (k + 1) % segments
        bm.faces.new((bottom, rings[0][k2], rings[0][k]))
        bm.faces.new((top, rings[-1][k], rings[-1][k2]))
        for lower, upper in zip(rings, rings[1:]):
            bm.faces.new((lower[k], lower[k2], upper[k2], upper[k]))
    return [bottom, top] + [v for ring in rings for v in ring]


def build_mesh(arm: bpy.types.Object, segments: int) -> bpy.types.Object:
    mesh = bpy.data.meshes.new("Body")
    body = bpy.data.objects.new("Body", mesh)
    bpy.context.scene.collection.objects.link(body)
    for name in sample.BONES:
        body.vertex_groups.new(name=sample.PREFIX + name)
    bm = bmesh.new()
    deform = bm.verts.layers.deform.verify()
    for bone, _kind, radius, start, end in sample.build_parts():
        a, b = Vector(start) * sample.CM, Vector(end) * sample.CM
        own = body.vertex_groups[sample.PREFIX + bone].index
        parent = sample.BONES[bone][2]
        child = main_child(bone)
        axis = b - a
        for vert in add_part(bm, radius * sample.CM, a, b, segments):
            t = (vert.co - a).dot(axis) / axis.length_squared if axis.length > 1e-3 else 0.5
            weights = {own: 1.0}
            if child is not None and t > 1 - BLEND:
                share = min(0.5, 0.5 * (t - (1 - BLEND)) / BLEND)
                weights = {own: 1 - share, body.vertex_groups[sample.PREFIX + child].index: share}
            elif parent is not None and t < BLEND:
                share = min(0.5, 0.5 * (BLEND - t) / BLEND)
                weights = {own: 1 - share, body.vertex_groups[sample.PREFIX + parent].index: share}
            for group, weight in weights.items():
                vert[deform][group] = weight
    bm.to_mesh(mesh)
    bm.free()
    for poly in mesh.polygons:
        poly.use_smooth = True
    body.parent = arm
    modifier = body.modifiers.new("Armature", "ARMATURE")
    modifier.object = arm
    return body


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    sample.clear_scene()
    arm = sample.build_armature()
    body = build_mesh(arm, args.segments)
    sample.new_action(arm, "mixamo.com")
    sample.key_walk(arm, args.frames, gesture=True, root_motion=True)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, args.frames
    scene.name = "mixamo.com"
    sample.export_fbx(Path(args.out))
    print(f"posefactory: dense character written to {args.out} ({len(body.data.vertices)} vertices, {args.frames} frames)", flush=True)
    return 0


if __name__ == "__main__":
    entry.run(main)
