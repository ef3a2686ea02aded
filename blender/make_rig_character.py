"""Test characters with other tools' skeletons, made in Blender, for the rig-profile tests.

Run:
    blender -b --factory-startup --python-exit-code 2 -P make_rig_character.py -- \
        --convention daz --out daz.fbx
    ... -- --all DIR [--only daz,biped]   # each convention into DIR/<convention>.<fbx|glb|blend>

Every convention but `rigify` starts from the sample mannequin (make_sample_character.py:
capsules skinned rigidly to a Mixamo-like skeleton, a short walk with the right arm rising),
then gives it the convention's bone names (rigs.py cites where they come from), a few of its
extra bones, its proportions and its axis habits, and exports it the way that tool's files
come:

| convention | names (left side)                          | file, units, axes                              |
|------------|--------------------------------------------|------------------------------------------------|
| daz        | Genesis 8: hip, pelvis, lShldrBend,        | FBX in centimetres, bones along X (DAZ's bone  |
|            | lShldrTwist, lForearmBend, lThighBend ...  | axis), 1.75 m                                  |
| unreal     | root, pelvis, spine_01, upperarm_l,        | FBX in centimetres, bones along X, the body    |
|            | lowerarm_l, thigh_l, calf_l, ball_l ...    | faces +X (Unreal's forward), root on the floor |
| cc         | CC_Base_BoneRoot, CC_Base_Hip,             | FBX in centimetres, 1.70 m                     |
|            | CC_Base_L_Upperarm, CC_Base_L_Calf ...     |                                                |
| vrm        | J_Bip_C_Hips, J_Bip_L_UpperArm,            | GLB (glTF: Y up, metres), 1.55 m, a big head   |
|            | J_Bip_L_LowerLeg, J_Adj_L_FaceEye ...      |                                                |
| mpfb       | MakeHuman default: root, spine05,          | GLB in metres, 1.65 m                          |
|            | upperarm01.L, lowerarm01.L, wrist.L ...    |                                                |
| rigify     | Blender's Rigify: the human metarig's      | .blend (the rig keeps its constraints);        |
|            | generated rig, body on the DEF- bones      | see make_rigify below                          |
| biped      | 3ds Max Biped: Bip01 Pelvis,               | FBX in centimetres; no built-in profile: the   |
|            | Bip01 L UpperArm ... (names with spaces)   | tests' unknown rig                             |

Everything is deterministic and takes a few seconds (Rigify's generation about 5 s).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import bpy  # first: as a Python module (the bpy wheel) bmesh and mathutils come with it

import bmesh  # noqa: E402
from mathutils import Matrix, Vector  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import make_sample_character as sample  # noqa: E402

CONVENTIONS = ("daz", "unreal", "cc", "vrm", "mpfb", "rigify", "biped")

# Mixamo bone (without prefix, {S} = Left/Right) -> the convention's name ({s} = its side
# spelling); None deletes the bone (the convention has no such bone).
MIXAMO_PARTS = (
    "Hips", "Spine", "Spine1", "Spine2", "Neck", "Head", "HeadTop_End", "{S}Eye", "{S}Shoulder", "{S}Arm",
    "{S}ForeArm", "{S}Hand", "{S}HandIndex1", "{S}HandIndex2", "{S}HandPinky1", "{S}HandPinky2",
    "{S}HandThumb1", "{S}HandThumb2", "{S}UpLeg", "{S}Leg", "{S}Foot", "{S}ToeBase", "{S}Toe_End",
)  # fmt: skip

NAMES: dict[str, tuple[tuple[str, str], tuple[str | None, ...]]] = {
    "daz": (
        ("l", "r"),
        ("hip", "abdomenLower", "abdomenUpper", "chestUpper", "neckLower", "head", None, "{s}Eye", "{s}Collar",
         "{s}ShldrBend", "{s}ForearmBend", "{s}Hand", "{s}Index1", "{s}Index2", "{s}Pinky1", "{s}Pinky2",
         "{s}Thumb1", "{s}Thumb2", "{s}ThighBend", "{s}Shin", "{s}Foot", "{s}Toe", None),
    ),
    "unreal": (
        ("l", "r"),
        ("pelvis", "spine_01", "spine_02", "spine_03", "neck_01", "head", None, None, "clavicle_{s}",
         "upperarm_{s}", "lowerarm_{s}", "hand_{s}", "index_01_{s}", "index_02_{s}", "pinky_01_{s}",
         "pinky_02_{s}", "thumb_01_{s}", "thumb_02_{s}", "thigh_{s}", "calf_{s}", "foot_{s}", "ball_{s}", None),
    ),
    "cc": (
        ("L", "R"),
        ("CC_Base_Hip", "CC_Base_Waist", "CC_Base_Spine01", "CC_Base_Spine02", "CC_Base_NeckTwist01",
         "CC_Base_Head", None, "CC_Base_{s}_Eye", "CC_Base_{s}_Clavicle", "CC_Base_{s}_Upperarm",
         "CC_Base_{s}_Forearm", "CC_Base_{s}_Hand", "CC_Base_{s}_Index1", "CC_Base_{s}_Index2",
         "CC_Base_{s}_Pinky1", "CC_Base_{s}_Pinky2", "CC_Base_{s}_Thumb1", "CC_Base_{s}_Thumb2",
         "CC_Base_{s}_Thigh", "CC_Base_{s}_Calf", "CC_Base_{s}_Foot", "CC_Base_{s}_ToeBase", None),
    ),
    "vrm": (
        ("L", "R"),
        ("J_Bip_C_Hips", "J_Bip_C_Spine", "J_Bip_C_Chest", "J_Bip_C_UpperChest", "J_Bip_C_Neck", "J_Bip_C_Head",
         None, "J_Adj_{s}_FaceEye", "J_Bip_{s}_Shoulder", "J_Bip_{s}_UpperArm", "J_Bip_{s}_LowerArm",
         "J_Bip_{s}_Hand", "J_Bip_{s}_Index1", "J_Bip_{s}_Index2", "J_Bip_{s}_Little1", "J_Bip_{s}_Little2",
         "J_Bip_{s}_Thumb1", "J_Bip_{s}_Thumb2", "J_Bip_{s}_UpperLeg", "J_Bip_{s}_LowerLeg", "J_Bip_{s}_Foot",
         "J_Bip_{s}_ToeBase", None),
    ),
    "mpfb": (
        ("L", "R"),
        ("spine05", "spine04", "spine03", "spine01", "neck01", "head", None, "eye.{s}", "clavicle.{s}",
         "upperarm01.{s}", "lowerarm01.{s}", "wrist.{s}", "finger2-1.{s}", "finger2-2.{s}", "finger5-1.{s}",
         "finger5-2.{s}", "finger1-1.{s}", "finger1-2.{s}", "upperleg01.{s}", "lowerleg01.{s}", "foot.{s}",
         "toe1-1.{s}", None),
    ),
    # 3ds Max Biped: no built-in profile, the tests' unknown rig (rigs: in the config maps it).
    "biped": (
        ("L", "R"),
        ("Bip01 Pelvis", "Bip01 Spine", "Bip01 Spine1", "Bip01 Spine2", "Bip01 Neck", "Bip01 Head",
         "Bip01 HeadNub", None, "Bip01 {s} Clavicle", "Bip01 {s} UpperArm", "Bip01 {s} Forearm",
         "Bip01 {s} Hand", "Bip01 {s} Finger1", "Bip01 {s} Finger11", "Bip01 {s} Finger4", "Bip01 {s} Finger41",
         "Bip01 {s} Finger0", "Bip01 {s} Finger01", "Bip01 {s} Thigh", "Bip01 {s} Calf", "Bip01 {s} Foot",
         "Bip01 {s} Toe0", "Bip01 {s} Toe0Nub"),
    ),
}  # fmt: skip

# Extra bones each tool has: (name, parent, inserted above (re-parents that bone), head, tail)
# in the convention's names, positions as fractions between two existing bones' heads.
Extra = tuple[str, str | None, str | None, tuple[str, str, float], tuple[str, str, float]]


def extras(convention: str) -> list[Extra]:
    out: list[Extra] = []
    if convention == "daz":
        out.append(("pelvis", "hip", None, ("hip", "hip", 0.0), ("lThighBend", "rThighBend", 0.5)))
        for s in ("l", "r"):  # twist bones sit between bend bones, as in Genesis 3/8
            out.append((f"{s}ShldrTwist", f"{s}ShldrBend", f"{s}ForearmBend",
                        (f"{s}ShldrBend", f"{s}ForearmBend", 0.5), (f"{s}ForearmBend", f"{s}ForearmBend", 0.0)))
            out.append((f"{s}ForearmTwist", f"{s}ForearmBend", f"{s}Hand",
                        (f"{s}ForearmBend", f"{s}Hand", 0.5), (f"{s}Hand", f"{s}Hand", 0.0)))
            out.append((f"{s}ThighTwist", f"{s}ThighBend", f"{s}Shin",
                        (f"{s}ThighBend", f"{s}Shin", 0.4), (f"{s}Shin", f"{s}Shin", 0.0)))
    elif convention == "unreal":
        out.append(("root", None, "pelvis", ("pelvis", "pelvis", 0.0), ("pelvis", "pelvis", 0.0)))
        out.append(("ik_foot_root", "root", None, ("pelvis", "pelvis", 0.0), ("pelvis", "pelvis", 0.0)))
        for s in ("l", "r"):
            out.append((f"upperarm_twist_01_{s}", f"upperarm_{s}", None,
                        (f"upperarm_{s}", f"lowerarm_{s}", 0.5), (f"upperarm_{s}", f"lowerarm_{s}", 0.8)))
            out.append((f"calf_twist_01_{s}", f"calf_{s}", None,
                        (f"calf_{s}", f"foot_{s}", 0.5), (f"calf_{s}", f"foot_{s}", 0.8)))
    elif convention == "cc":
        out.append(("CC_Base_BoneRoot", None, "CC_Base_Hip", ("CC_Base_Hip", "CC_Base_Hip", 0.0),
                    ("CC_Base_Hip", "CC_Base_Hip", 0.0)))
        out.append(("CC_Base_Pelvis", "CC_Base_Hip", None, ("CC_Base_Hip", "CC_Base_Hip", 0.0),
                    ("CC_Base_L_Thigh", "CC_Base_R_Thigh", 0.5)))
    elif convention == "vrm":
        out.append(("Root", None, "J_Bip_C_Hips", ("J_Bip_C_Hips", "J_Bip_C_Hips", 0.0),
                    ("J_Bip_C_Hips", "J_Bip_C_Hips", 0.0)))
    elif convention == "biped":
        out.append(("Bip01", None, "Bip01 Pelvis", ("Bip01 Pelvis", "Bip01 Pelvis", 0.0),
                    ("Bip01 Pelvis", "Bip01 Spine", 0.5)))
    elif convention == "mpfb":
        out.append(("root", None, "spine05", ("spine05", "spine05", 0.0), ("spine05", "spine04", 0.5)))
    return out  # fmt: skip


FLOOR_ROOTS = {"unreal": ("root", "ik_foot_root"), "cc": ("CC_Base_BoneRoot",), "vrm": ("Root",)}

# Height (m; the sample is 1.88 to its head top), head scale, and where the body faces.
SHAPE: dict[str, dict[str, float]] = {
    "daz": {"height": 1.75, "head": 1.0, "turn_deg": 0.0},
    "unreal": {"height": 1.80, "head": 1.0, "turn_deg": 90.0},  # -Y -> +X
    "cc": {"height": 1.70, "head": 1.0, "turn_deg": 0.0},
    "vrm": {"height": 1.55, "head": 1.25, "turn_deg": 0.0},
    "mpfb": {"height": 1.65, "head": 1.0, "turn_deg": 0.0},
    "biped": {"height": 1.80, "head": 1.0, "turn_deg": 0.0},
}
SAMPLE_HEIGHT_M = 1.88


def parse_args() -> argparse.Namespace:
    argv = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []
    parser = argparse.ArgumentParser(prog="make_rig_character.py")
    parser.add_argument("--convention", choices=CONVENTIONS)
    parser.add_argument("--out", help="file to write (.fbx, .glb or .blend, as the convention has it)")
    parser.add_argument("--all", help="write every convention into this folder (one Blender start for all)")
    parser.add_argument("--only", help="with --all: only these conventions (comma-separated)")
    args = parser.parse_args(argv)
    if args.all is None and (args.convention is None or args.out is None):
        parser.error("give --convention and --out, or --all DIR")
    return args


def rename_bones(arm: bpy.types.Object, convention: str) -> None:
    """Mixamo names -> the convention's (renaming a bone renames its vertex group and keys)."""
    (left, right), names = NAMES[convention]
    doomed: list[str] = []
    for mixamo, target in zip(MIXAMO_PARTS, names):
        pairs = ((mixamo.replace("{S}", "Left"), target and target.replace("{s}", left)),
                 (mixamo.replace("{S}", "Right"), target and target.replace("{s}", right)))  # fmt: skip
        for old, new in pairs if "{S}" in mixamo else pairs[:1]:
            bone = arm.data.bones[sample.PREFIX + old]
            if new is None:
                doomed.append(bone.name)
            else:
                bone.name = new
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    for name in doomed:
        arm.data.edit_bones.remove(arm.data.edit_bones[name])
    bpy.ops.object.mode_set(mode="OBJECT")


def add_extras(arm: bpy.types.Object, convention: str) -> None:
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    bones = arm.data.edit_bones

    def point(spec: tuple[str, str, float]) -> Vector:
        a, b, t = spec
        return bones[a].head.lerp(bones[b].head, t)

    for name, parent, above, head, tail in extras(convention):
        bone = bones.new(name)
        bone.head = point(head)
        bone.tail = point(tail)
        if (bone.tail - bone.head).length < 1e-3:
            bone.tail = bone.head + Vector((0.0, 0.0, 10.0))  # root bones: a short upright stub
        bone.parent = bones[parent] if parent else None
        if above:
            child = bones[above]
            bone.parent = child.parent if parent is None else bone.parent
            child.parent = bone
            child.use_connect = False
        if name in FLOOR_ROOTS.get(convention, ()):  # these tools root the skeleton on the floor
            bone.head.z = 0.0
            bone.tail = bone.head + Vector((0.0, 0.0, 10.0))
    bpy.ops.object.mode_set(mode="OBJECT")


def reshape(arm: bpy.types.Object, body: bpy.types.Object, convention: str) -> None:
    """Scale to the convention's height, enlarge the head, turn the body; bones and mesh alike.

    Done after animating: local rotations stay valid when every rest frame moves rigidly.
    """
    shape = SHAPE[convention]
    scale = shape["height"] / SAMPLE_HEIGHT_M
    turn = Matrix.Rotation(math.radians(shape["turn_deg"]), 4, "Z")
    whole = turn @ Matrix.Scale(scale, 4)
    head_name = NAMES[convention][1][MIXAMO_PARTS.index("Head")]
    assert head_name is not None
    group = body.vertex_groups[head_name].index
    pivot = arm.data.bones[head_name].head_local.copy()
    head_scale = Matrix.Translation(pivot) @ Matrix.Scale(shape["head"], 4) @ Matrix.Translation(-pivot)
    mesh = body.data
    for vert in mesh.vertices:
        if any(g.group == group and g.weight > 0.5 for g in vert.groups):
            vert.co = head_scale @ vert.co
    mesh.transform(whole)
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    for bone in arm.data.edit_bones:
        bone.transform(whole)
    bpy.ops.object.mode_set(mode="OBJECT")


def export_fbx(path: Path, bone_axis: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    secondary = "-Y" if bone_axis == "X" else "X"
    bpy.ops.export_scene.fbx(
        filepath=str(path), object_types={"ARMATURE", "MESH"}, use_selection=False, apply_unit_scale=True,
        apply_scale_options="FBX_SCALE_NONE", global_scale=1.0, add_leaf_bones=False, bake_anim=True,
        bake_anim_use_all_actions=False, bake_anim_use_nla_strips=False, bake_anim_force_startend_keying=True,
        bake_anim_simplify_factor=0.0, armature_nodetype="NULL", primary_bone_axis=bone_axis,
        secondary_bone_axis=secondary,
    )  # fmt: skip


def export_glb(arm: bpy.types.Object, path: Path) -> None:
    """glTF is metres and Y up: the exporter converts Blender's Z up; the 0.01 scale gives metres."""
    arm.scale = (1.0 / sample.CM,) * 3
    import numpy  # the 3.4 glTF add-on still uses numpy.bool (removed in numpy 1.24)

    if not hasattr(numpy, "bool"):
        numpy.bool = bool  # type: ignore[attr-defined]
    path.parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.export_scene.gltf(
        filepath=str(path), export_format="GLB", export_animations=True, export_force_sampling=True,
        export_skins=True, export_yup=True,
    )  # fmt: skip


def make_convention(convention: str, out: Path) -> None:
    sample.clear_scene()
    arm = sample.build_armature()
    body = sample.build_mesh(arm)
    sample.new_action(arm, "walk")
    sample.key_walk(arm, 24, gesture=True, root_motion=False)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, 24
    scene.name = "walk"
    rename_bones(arm, convention)
    add_extras(arm, convention)
    reshape(arm, body, convention)
    if out.suffix.lower() == ".glb":
        export_glb(arm, out)
    else:
        export_fbx(out, "X" if convention in ("daz", "unreal") else "Y")


# --- Rigify -----------------------------------------------------------------------------

# DEF bone -> capsule radius (m) for the body made on a generated Rigify rig; {s} = L/R.
RIGIFY_BODY = {
    "DEF-spine": 0.15, "DEF-spine.001": 0.14, "DEF-spine.002": 0.15, "DEF-spine.003": 0.16,
    "DEF-spine.004": 0.055, "DEF-spine.005": 0.055,
    "DEF-upper_arm.{s}": 0.055, "DEF-upper_arm.{s}.001": 0.05, "DEF-forearm.{s}": 0.045,
    "DEF-forearm.{s}.001": 0.04, "DEF-hand.{s}": 0.04, "DEF-thigh.{s}": 0.08, "DEF-thigh.{s}.001": 0.07,
    "DEF-shin.{s}": 0.06, "DEF-shin.{s}.001": 0.05, "DEF-toe.{s}": 0.035, "DEF-shoulder.{s}": 0.06,
    **{f"DEF-palm.0{i}.{{s}}": 0.018 for i in range(1, 5)},
    **{f"DEF-{f}.0{i}.{{s}}": 0.012 for f in ("f_index", "f_middle", "f_ring", "f_pinky", "thumb")
       for i in range(1, 4)},
}  # fmt: skip


def rigify_parts(rig: bpy.types.Object) -> list[tuple[str, float, Vector, Vector]]:
    """(DEF bone, radius, start, end) of every capsule, in armature space."""
    bones = rig.data.bones
    parts = [
        (name, radius, bones[name].head_local, bones[name].tail_local)
        for pattern, radius in RIGIFY_BODY.items()
        for name in sorted({pattern.replace("{s}", s) for s in ("L", "R")})
    ]
    head = bones["DEF-spine.006"]
    base, top = head.head_local, head.tail_local
    eyes = (bones["ORG-eye.L"].head_local + bones["ORG-eye.R"].head_local) / 2
    parts.append(("DEF-spine.006", 0.12, base.lerp(top, 0.15), base.lerp(top, 0.6)))  # cranium
    parts.append(("DEF-spine.006", 0.08, base.lerp(top, 0.2), eyes.lerp(base.lerp(top, 0.5), 0.3)))  # face
    for s in ("L", "R"):  # the foot from the heel (the metarig's heel.02 is on the floor) to the toe
        foot, heel = bones[f"DEF-foot.{s}"], bones[f"ORG-heel.02.{s}"]
        start = Vector((foot.head_local.x, heel.head_local.y, 0.045))
        parts.append((f"DEF-foot.{s}", 0.045, start, foot.tail_local))
    return parts


def make_rigify(out: Path) -> None:
    """Rigify's own rig: human metarig -> generated rig, a capsule body, a short animation.

    Weights: each capsule is weighted fully to the DEF bone it sits on (explicit weights).
    Automatic (bone heat) weights need every capsule island to "see" its bone and failed on
    some islands headless, so the body does not depend on them; the deformation is the same
    as the tools' for a rigid mannequin. Animated through the rig's own controls (torso, the
    FK arm and leg chains with IK_FK switched to FK), so the DEF bones move through Rigify's
    constraints as in a real rig.
    """
    import addon_utils

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = sample.FPS
    addon_utils.enable("rigify", default_set=True)
    bpy.ops.object.armature_human_metarig_add()
    metarig = bpy.context.active_object
    bpy.ops.pose.rigify_generate()
    rig = bpy.context.active_object
    bpy.data.objects.remove(metarig, do_unlink=True)

    mesh = bpy.data.meshes.new("Body")
    body = bpy.data.objects.new("Body", mesh)
    scene.collection.objects.link(body)
    bm = bmesh.new()
    deform = bm.verts.layers.deform.verify()
    for name, radius, start, end in rigify_parts(rig):
        group = body.vertex_groups.get(name) or body.vertex_groups.new(name=name)
        for vert in sample.add_capsule(bm, radius, start, end):
            vert[deform][group.index] = 1.0
    bm.to_mesh(mesh)
    bm.free()
    body.parent = rig
    body.modifiers.new("Armature", "ARMATURE").object = rig

    for holder in ("upper_arm_parent.L", "upper_arm_parent.R", "thigh_parent.L", "thigh_parent.R"):
        rig.pose.bones[holder]["IK_FK"] = 1.0  # FK: the *_fk controls drive the chain
    rig.animation_data_create()
    rig.animation_data.action = bpy.data.actions.new("wave")
    rig.animation_data.action.use_fake_user = True
    pose = rig.pose.bones
    for frame, t in ((1, 0.0), (12, 1.0), (24, 0.0)):
        for name, axis, degrees in (
            ("upper_arm_fk.R", "X", 70 * t),  # the right arm swings forward and up
            ("forearm_fk.R", "X", 40 * t),
            ("upper_arm_fk.L", "X", -20 * t),
            ("thigh_fk.L", "X", 25 * t),
            ("torso", "Z", 15 * t),
        ):
            bone = pose[name]
            bone.rotation_mode = "XYZ"
            bone.rotation_euler = (0.0, 0.0, 0.0)
            setattr(bone.rotation_euler, axis.lower(), math.radians(degrees))
            bone.keyframe_insert("rotation_euler", frame=frame)
    scene.frame_start, scene.frame_end = 1, 24
    out.parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(out.resolve()))


# Each tool's usual file format.
EXTENSIONS = {
    "daz": ".fbx", "unreal": ".fbx", "cc": ".fbx", "vrm": ".glb", "mpfb": ".glb", "rigify": ".blend",
    "biped": ".fbx",
}  # fmt: skip


def make(convention: str, out: Path) -> None:
    if convention == "rigify":
        make_rigify(out)
    else:
        make_convention(convention, out)
    print(f"posefactory: {convention} character written to {out}", flush=True)


def main() -> None:
    args = parse_args()
    if args.all is not None:
        wanted = args.only.split(",") if args.only else list(CONVENTIONS)
        for convention in [c for c in CONVENTIONS if c in wanted]:
            make(convention, Path(args.all) / f"{convention}{EXTENSIONS[convention]}")
    else:
        make(args.convention, Path(args.out))
    if bpy.app.binary_path == "":
        # Blender as a Python module (bpy 4.5) hangs in its exit after a Rigify generation:
        # everything is written, so leave without the interpreter's teardown.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    main()
