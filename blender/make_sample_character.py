"""Build posefactory's procedural Mixamo-like test character and export it.

Run (either launcher, see posefactory_bpy/entry.py):
    blender -b --factory-startup --python-exit-code 2 -P make_sample_character.py -- \
        --out sample.fbx [--glb-two-clips sample.glb]
    python3 make_sample_character.py -- --out sample.fbx [--glb-two-clips sample.glb]

The character is about 1.8 m tall, faces -Y (as Mixamo characters do once imported), has
`mixamorig:` bone names in Mixamo's hierarchy, and a mesh of capsules and spheres skinned
rigidly to those bones. The FBX is written in centimetres, like Mixamo's files, so that
Blender's importer gives the armature object a 0.01 scale. The FBX holds one clip: a walk
with root motion during which the right arm rises above the head. The optional GLB holds
two named animations, "Walk" (root motion) and "Wave" (in place), for multi-clip tests.

`--turn-deg 180` turns the armature object so that the character faces +Y (for facing tests).

Everything is deterministic (no randomness) and takes a couple of seconds.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bpy  # noqa: E402  # first: as a Python module, bpy is what makes bmesh and mathutils importable
import bmesh  # noqa: E402
from mathutils import Matrix, Quaternion, Vector  # noqa: E402

from posefactory_bpy import entry  # noqa: E402

PREFIX = "mixamorig:"
FPS = 30
# Mixamo FBX files hold centimetres: the scene is built in centimetres (1 unit = 1 cm) and the
# tables below stay in metres for readability.
CM = 100.0

# name -> (head, tail, parent); metres, Z up, facing -Y, T-pose (arms along +-X).
BONES: dict[str, tuple[tuple[float, float, float], tuple[float, float, float], str | None]] = {
    "Hips": ((0, 0, 1.00), (0, 0, 1.08), None),
    "Spine": ((0, 0, 1.08), (0, 0, 1.20), "Hips"),
    "Spine1": ((0, 0, 1.20), (0, 0, 1.32), "Spine"),
    "Spine2": ((0, 0, 1.32), (0, 0, 1.47), "Spine1"),
    "Neck": ((0, 0, 1.47), (0, 0, 1.57), "Spine2"),
    "Head": ((0, 0, 1.57), (0, 0, 1.80), "Neck"),
    "HeadTop_End": ((0, 0, 1.80), (0, 0, 1.88), "Head"),
    "LeftEye": ((0.033, -0.085, 1.69), (0.033, -0.12, 1.69), "Head"),
    "RightEye": ((-0.033, -0.085, 1.69), (-0.033, -0.12, 1.69), "Head"),
}
for side, s in (("Left", 1.0), ("Right", -1.0)):
    BONES.update(
        {
            f"{side}Shoulder": ((s * 0.04, 0, 1.44), (s * 0.17, 0, 1.44), "Spine2"),
            f"{side}Arm": ((s * 0.17, 0, 1.44), (s * 0.45, 0, 1.44), f"{side}Shoulder"),
            f"{side}ForeArm": ((s * 0.45, 0, 1.44), (s * 0.71, 0, 1.44), f"{side}Arm"),
            f"{side}Hand": ((s * 0.71, 0, 1.44), (s * 0.79, 0, 1.44), f"{side}ForeArm"),
            f"{side}HandIndex1": ((s * 0.80, -0.025, 1.44), (s * 0.84, -0.025, 1.44), f"{side}Hand"),
            f"{side}HandIndex2": ((s * 0.84, -0.025, 1.44), (s * 0.88, -0.025, 1.44), f"{side}HandIndex1"),
            f"{side}HandPinky1": ((s * 0.79, 0.03, 1.44), (s * 0.82, 0.03, 1.44), f"{side}Hand"),
            f"{side}HandPinky2": ((s * 0.82, 0.03, 1.44), (s * 0.85, 0.03, 1.44), f"{side}HandPinky1"),
            f"{side}HandThumb1": ((s * 0.74, -0.04, 1.43), (s * 0.76, -0.06, 1.43), f"{side}Hand"),
            f"{side}HandThumb2": ((s * 0.76, -0.06, 1.43), (s * 0.78, -0.08, 1.43), f"{side}HandThumb1"),
            f"{side}UpLeg": ((s * 0.09, 0, 0.95), (s * 0.09, 0, 0.52), "Hips"),
            f"{side}Leg": ((s * 0.09, 0, 0.52), (s * 0.09, 0.01, 0.09), f"{side}UpLeg"),
            f"{side}Foot": ((s * 0.09, 0.01, 0.09), (s * 0.09, -0.11, 0.025), f"{side}Leg"),
            f"{side}ToeBase": ((s * 0.09, -0.11, 0.025), (s * 0.09, -0.19, 0.025), f"{side}Foot"),
            f"{side}Toe_End": ((s * 0.09, -0.19, 0.025), (s * 0.09, -0.22, 0.025), f"{side}ToeBase"),
        }
    )

# Body parts: (bone, kind, radius, start, end); kind "capsule" spans start -> end.
Part = tuple[str, str, float, tuple[float, float, float], tuple[float, float, float]]


def build_parts() -> list[Part]:
    """Capsules and spheres that make up the mannequin, each bound to one bone."""
    parts: list[Part] = [
        ("Hips", "capsule", 0.15, (0, 0, 0.93), (0, 0, 1.08)),
        ("Spine", "capsule", 0.14, (0, 0, 1.08), (0, 0, 1.20)),
        ("Spine1", "capsule", 0.15, (0, 0, 1.20), (0, 0, 1.32)),
        ("Spine2", "capsule", 0.16, (0, 0, 1.32), (0, 0, 1.44)),
        ("Neck", "capsule", 0.055, (0, 0, 1.47), (0, 0, 1.58)),
        ("Head", "sphere", 0.11, (0, -0.01, 1.69), (0, -0.01, 1.69)),
        ("Head", "sphere", 0.035, (0, -0.105, 1.665), (0, -0.105, 1.665)),  # nose
    ]
    for side, s in (("Left", 1.0), ("Right", -1.0)):
        parts += [
            (f"{side}Shoulder", "capsule", 0.06, (s * 0.06, 0, 1.43), (s * 0.17, 0, 1.43)),
            (f"{side}Arm", "capsule", 0.055, (s * 0.17, 0, 1.44), (s * 0.45, 0, 1.44)),
            (f"{side}ForeArm", "capsule", 0.045, (s * 0.45, 0, 1.44), (s * 0.71, 0, 1.44)),
            (f"{side}Hand", "capsule", 0.04, (s * 0.72, 0, 1.44), (s * 0.80, 0, 1.44)),
            (f"{side}HandIndex1", "capsule", 0.015, (s * 0.80, -0.025, 1.44), (s * 0.88, -0.025, 1.44)),
            (f"{side}HandPinky1", "capsule", 0.013, (s * 0.79, 0.03, 1.44), (s * 0.85, 0.03, 1.44)),
            (f"{side}HandThumb1", "capsule", 0.015, (s * 0.74, -0.04, 1.43), (s * 0.78, -0.08, 1.43)),
            (f"{side}UpLeg", "capsule", 0.08, (s * 0.09, 0, 0.95), (s * 0.09, 0, 0.52)),
            (f"{side}Leg", "capsule", 0.06, (s * 0.09, 0, 0.52), (s * 0.09, 0.01, 0.09)),
            (f"{side}Foot", "capsule", 0.045, (s * 0.09, 0.03, 0.05), (s * 0.09, -0.11, 0.04)),
            (f"{side}ToeBase", "capsule", 0.035, (s * 0.09, -0.11, 0.035), (s * 0.09, -0.19, 0.035)),
        ]
    return parts


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make_sample_character.py")
    parser.add_argument("--out", required=True, help="FBX file to write (one clip: walk + gesture)")
    parser.add_argument("--glb-two-clips", help="also write a GLB with two animations: Walk, Wave")
    parser.add_argument("--blend", help="also save the scene as a .blend file")
    parser.add_argument(
        "--glb-clip-name",
        action="append",
        help="name of the GLB's first, then second animation (default Walk, Wave); e.g. a glTF-style "
        "'Armature|mixamo.com|Layer0' to test names that are not safe folder names",
    )
    parser.add_argument(
        "--turn-deg",
        type=float,
        default=0.0,
        help="turn the armature object about Z (180: the character faces +Y, like three.js's Soldier)",
    )
    parser.add_argument(
        "--clip-turn-deg",
        type=float,
        default=0.0,
        help="turn the body in every frame of the clip, not the rest pose (the clip faces another way)",
    )
    return parser.parse_args(argv)


def clear_scene() -> None:
    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj, do_unlink=True)
    for action in list(bpy.data.actions):
        bpy.data.actions.remove(action)
    scene = bpy.context.scene
    scene.render.fps = FPS
    scene.render.fps_base = 1.0
    scene.unit_settings.scale_length = 1.0 / CM


def build_armature() -> bpy.types.Object:
    data = bpy.data.armatures.new("Armature")
    arm = bpy.data.objects.new("Armature", data)
    bpy.context.scene.collection.objects.link(arm)
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    for name, (head, tail, parent) in BONES.items():
        eb = data.edit_bones.new(PREFIX + name)
        eb.head, eb.tail = Vector(head) * CM, Vector(tail) * CM
        eb.roll = 0.0
        if parent:
            eb.parent = data.edit_bones[PREFIX + parent]
            eb.use_connect = False
    bpy.ops.object.mode_set(mode="OBJECT")
    return arm


def add_capsule(bm: bmesh.types.BMesh, radius: float, a: Vector, b: Vector) -> list[bmesh.types.BMVert]:
    """A closed cylinder from a to b capped with two spheres; returns the new vertices.

    The ops free a few temporary vertices whose slots later ops reuse, so the new vertices
    are neither contiguous nor at the end: weights go on the returned (valid) vertices.
    """
    made: list[bmesh.types.BMVert] = []
    axis = b - a
    length = axis.length
    if length > 1e-3:
        rot = axis.to_track_quat("Z", "Y").to_matrix().to_4x4()
        mat = Matrix.Translation((a + b) / 2) @ rot
        res = bmesh.ops.create_cone(
            bm, cap_ends=True, segments=16, radius1=radius, radius2=radius, depth=length, matrix=mat
        )
        made += res["verts"]
    for center in (a, b) if length > 1e-3 else (a,):
        res = bmesh.ops.create_uvsphere(
            bm, u_segments=16, v_segments=8, radius=radius, matrix=Matrix.Translation(center)
        )
        made += res["verts"]
    return [v for v in made if v.is_valid]


def build_mesh(arm: bpy.types.Object) -> bpy.types.Object:
    mesh = bpy.data.meshes.new("Body")
    body = bpy.data.objects.new("Body", mesh)
    bpy.context.scene.collection.objects.link(body)
    for name in BONES:
        body.vertex_groups.new(name=PREFIX + name)
    bm = bmesh.new()
    deform = bm.verts.layers.deform.verify()
    for bone, _kind, radius, start, end in build_parts():
        group = body.vertex_groups[PREFIX + bone].index
        for vert in add_capsule(bm, radius * CM, Vector(start) * CM, Vector(end) * CM):
            vert[deform][group] = 1.0
    bm.to_mesh(mesh)
    bm.free()
    for poly in mesh.polygons:
        poly.use_smooth = True
    material = bpy.data.materials.new("Skin")
    material.use_nodes = True
    bsdf = material.node_tree.nodes.get("Principled BSDF")
    if bsdf is not None:
        bsdf.inputs["Base Color"].default_value = (0.8, 0.55, 0.42, 1.0)
        bsdf.inputs["Roughness"].default_value = 0.6
    mesh.materials.append(material)
    body.parent = arm
    modifier = body.modifiers.new("Armature", "ARMATURE")
    modifier.object = arm
    return body


def rotation_x(deg: float) -> Matrix:
    return Matrix.Rotation(math.radians(deg), 3, "X")


def rotation_y(deg: float) -> Matrix:
    return Matrix.Rotation(math.radians(deg), 3, "Y")


def key_rotation(arm: bpy.types.Object, bone: str, rot: Matrix, frame: int) -> None:
    """Key a rotation given in armature space (as if the parent were at rest)."""
    pose_bone = arm.pose.bones[PREFIX + bone]
    rest = pose_bone.bone.matrix_local.to_3x3()
    local = rest.inverted() @ rot @ rest
    pose_bone.rotation_mode = "QUATERNION"
    pose_bone.rotation_quaternion = local.to_quaternion()
    pose_bone.keyframe_insert("rotation_quaternion", frame=frame)


def key_hips_location(arm: bpy.types.Object, delta: Vector, frame: int) -> None:
    pose_bone = arm.pose.bones[PREFIX + "Hips"]
    rest = pose_bone.bone.matrix_local.to_3x3()
    pose_bone.location = rest.inverted() @ (delta * CM)
    pose_bone.keyframe_insert("location", frame=frame)


def reset_pose(arm: bpy.types.Object) -> None:
    for pose_bone in arm.pose.bones:
        pose_bone.rotation_mode = "QUATERNION"
        pose_bone.rotation_quaternion = Quaternion()
        pose_bone.location = Vector()


def key_walk(arm: bpy.types.Object, frames: int, gesture: bool, root_motion: bool, turn_deg: float = 0.0) -> None:
    """Two walk cycles; with `gesture`, the right arm rises above the head mid-clip. With
    `turn_deg` the whole body (the Hips) is turned that much about the vertical in every frame,
    walking that way: the clip faces another way than the rest pose."""
    turn = Matrix.Rotation(math.radians(turn_deg), 3, "Z")
    for frame in range(1, frames + 1):
        t = (frame - 1) / FPS
        phase = 2 * math.pi * (frame - 1) / (frames / 2)
        swing = math.sin(phase)
        forward = -1.3 * t if root_motion else 0.0
        key_hips_location(arm, turn @ Vector((0, forward, 0.02 * abs(math.cos(phase)))), frame)
        if turn_deg:
            key_rotation(arm, "Hips", turn, frame)
        for side, s in (("Left", 1.0), ("Right", -1.0)):
            leg_swing = -28 * swing * s
            key_rotation(arm, f"{side}UpLeg", rotation_x(leg_swing), frame)
            knee = 35 * max(0.0, math.sin(phase + (0 if s > 0 else math.pi) + 1.2))
            key_rotation(arm, f"{side}Leg", rotation_x(knee), frame)
            key_rotation(arm, f"{side}Foot", rotation_x(-0.3 * knee), frame)
            lower = rotation_y(72 * s)
            arm_swing = rotation_x(25 * swing * s)
            raise_amount = 0.0
            if gesture and side == "Right":
                # 0 -> 1 -> 0 over the middle half of the clip
                u = (frame - 1) / max(1, frames - 1)
                raise_amount = max(0.0, math.sin(math.pi * (u - 0.25) / 0.5)) if 0.25 <= u <= 0.75 else 0.0
            if raise_amount > 0:
                raised = rotation_y(-80 * s)  # right arm up above the head
                angle = lower.to_quaternion().slerp(raised.to_quaternion(), raise_amount)
                key_rotation(arm, f"{side}Arm", angle.to_matrix(), frame)
            else:
                key_rotation(arm, f"{side}Arm", arm_swing @ lower, frame)
            key_rotation(arm, f"{side}ForeArm", rotation_x(-15 - 10 * max(0.0, swing * s)), frame)
        key_rotation(arm, "Spine1", Matrix.Rotation(math.radians(6 * swing), 3, "Z"), frame)


def key_wave(arm: bpy.types.Object, frames: int) -> None:
    """In place: left arm down, right arm raised and waving."""
    for frame in range(1, frames + 1):
        phase = 2 * math.pi * (frame - 1) / (frames / 2)
        key_hips_location(arm, Vector((0, 0, 0)), frame)
        key_rotation(arm, "LeftArm", rotation_y(72), frame)
        key_rotation(arm, "RightArm", rotation_y(60 + 15 * math.sin(phase)), frame)
        key_rotation(arm, "RightForeArm", Matrix.Rotation(math.radians(-40), 3, "Y"), frame)
        for side in ("Left", "Right"):
            key_rotation(arm, f"{side}UpLeg", Matrix.Identity(3), frame)
            key_rotation(arm, f"{side}Leg", Matrix.Identity(3), frame)


def new_action(arm: bpy.types.Object, name: str) -> bpy.types.Action:
    action = bpy.data.actions.new(name)
    action.use_fake_user = True
    if arm.animation_data is None:
        arm.animation_data_create()
    arm.animation_data.action = action
    reset_pose(arm)
    return action


def export_fbx(path: Path) -> None:
    """Centimetre FBX like Mixamo's: Blender's importer then sets the armature scale to 0.01."""
    path.parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.export_scene.fbx(
        filepath=str(path),
        object_types={"ARMATURE", "MESH"},
        use_selection=False,
        apply_unit_scale=True,
        apply_scale_options="FBX_SCALE_NONE",
        global_scale=1.0,
        add_leaf_bones=False,
        bake_anim=True,
        bake_anim_use_all_actions=False,
        bake_anim_use_nla_strips=False,
        bake_anim_force_startend_keying=True,
        bake_anim_simplify_factor=0.0,
        armature_nodetype="NULL",
    )


def export_glb_two_clips(arm: bpy.types.Object, path: Path, names: list[str] | None = None) -> None:
    """A GLB whose two animations come from two NLA tracks (one per action).

    glTF is in metres and ignores the scene's unit scale: the armature object gets a 0.01
    scale so the character is 1.8 m tall (as a Mixamo FBX converted to glTF would be).
    """
    for action in list(bpy.data.actions):
        bpy.data.actions.remove(action)
    arm.scale = (1.0 / CM,) * 3
    walk_name, wave_name = ((names or []) + ["Walk", "Wave"][len(names or []) :])[:2]
    walk = new_action(arm, walk_name)
    key_walk(arm, 40, gesture=False, root_motion=True)
    wave = new_action(arm, wave_name)
    key_wave(arm, 30)
    arm.animation_data.action = None
    for action in (walk, wave):
        track = arm.animation_data.nla_tracks.new()
        track.name = action.name
        track.strips.new(action.name, 1, action)
    path.parent.mkdir(parents=True, exist_ok=True)
    import numpy  # the 3.4 glTF add-on still uses numpy.bool (removed in numpy 1.24)

    if not hasattr(numpy, "bool"):
        numpy.bool = bool  # type: ignore[attr-defined]
    options = {}
    if "export_animation_mode" in bpy.ops.export_scene.gltf.get_rna_type().properties.keys():
        # glTF add-on of Blender 3.6+ (so all of 4.x): `export_nla_strips` is kept but ignored,
        # one animation per NLA track is `export_animation_mode="NLA_TRACKS"` (default "ACTIONS").
        options["export_animation_mode"] = "NLA_TRACKS"
    bpy.ops.export_scene.gltf(
        filepath=str(path),
        export_format="GLB",
        export_animations=True,
        export_nla_strips=True,
        export_force_sampling=True,
        export_skins=True,
        **options,
    )


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    clear_scene()
    arm = build_armature()
    build_mesh(arm)
    # An object-level turn, as some files have: the rest pose's bones stay as they are, so the
    # renderer must read the facing through matrix_world.
    arm.rotation_euler = (0.0, 0.0, math.radians(args.turn_deg))
    new_action(arm, "mixamo.com")
    key_walk(arm, 48, gesture=True, root_motion=True, turn_deg=args.clip_turn_deg)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, 48
    scene.name = "mixamo.com"  # the FBX take name, as in Mixamo's downloads
    export_fbx(Path(args.out))
    if args.blend:
        bpy.ops.wm.save_as_mainfile(filepath=str(Path(args.blend).resolve()))
    if args.glb_two_clips:
        export_glb_two_clips(arm, Path(args.glb_two_clips), args.glb_clip_name)
    print(f"posefactory: sample character written to {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    entry.run(main)
