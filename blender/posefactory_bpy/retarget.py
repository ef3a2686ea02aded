"""Animations applied across characters (config `animations`: a folder of animation files).

Each file (Mixamo "Without Skin" FBX, glTF, .blend: anything with a Mixamo-named armature) is
imported next to the character, its action copied onto the character's armature as a new clip
named after the file, and the imported objects removed again. What real files differ in:
- bone prefixes (`mixamorig:`, `mixamorig1:`, `mixamorig7_`...): F-curves are matched on the
  name after the prefix and rewritten to the character's own bone names;
- units and axes: a centimetre FBX and a metre glTF animate the Hips translation in different
  units and bone axes, so each Hips location key is carried through world space (the file's
  Hips rest frame and object transform, then the character's) and scaled by the ratio of the
  two rigs' rest hip heights in world units (that also fits a short character to a tall one's
  stride);
- facing: the two rigs' rest poses may face different ways (three.js's Soldier is turned 43.5
  deg); rotations, translations and the rest-pose check are turned about the vertical by the
  difference of their facings (facing.py);
- extra bones (in the file, not the character) are dropped; missing ones (in the character,
  not the file) stay in their rest pose;
- a file whose armature shares too few bones with the character (under MIN_SHARED of the
  file's animated bones, or no Hips) does not fit: it is listed in the manifest with the
  reason, never fatal; so is a file that does not import or holds no animation.
Rotations are keyed relative to each bone's rest: a key is carried over as the same rotation
from rest in world space, turned to the character's facing (so bone axes and object transforms
that differ between importers do not matter), which is right for rigs with the same rest pose
(Mixamo's T-pose). Rest poses that differ (an A-pose
rig and a T-pose animation: a limb's rest direction more than 25 deg apart) are not retargeted
but listed with that reason (NOTES.md: a T-pose animation distorts an A-pose rig).
Bounding box and camera fit then run on the retargeted clip like on any other clip.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import bpy
from mathutils import Matrix, Quaternion, Vector

from .character import Character, CharacterError, Clip, action_range, import_file, safe_segment, strip_prefix
from .facing import angle_between, find_facing, flat_azimuth

ANIMATION_FILES = (".fbx", ".glb", ".gltf", ".blend")
MIN_SHARED = 0.8
# Rest directions of these bones must agree (world space) for rotations to transfer.
CHECKED_BONES = ("Spine", "LeftArm", "RightArm", "LeftForeArm", "RightForeArm", "LeftUpLeg", "RightUpLeg", "LeftLeg", "RightLeg")
REST_TOLERANCE_DEG = 25.0
BONE_PATH = re.compile(r'^pose\.bones\["(.+?)"\]\.(.+)$')


@dataclass
class AnimationResult:
    file: str
    clip: str
    status: str  # "applied" | "skipped"
    reason: str = ""

    def manifest(self) -> dict:
        out = {"file": self.file, "clip": self.clip, "status": self.status}
        if self.reason:
            out["reason"] = self.reason
        return out


def list_animations(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise CharacterError(f"animations: {folder} is not a folder (put Mixamo animation files in it)")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in ANIMATION_FILES)


def action_fcurves(action: bpy.types.Action) -> list:
    """F-curves of an action: `action.fcurves` up to 4.x, the layered channel bags in 5.0."""
    if hasattr(action, "fcurves"):
        return list(action.fcurves)
    curves = []
    for layer in action.layers:
        for strip in layer.strips:
            for bag in strip.channelbags:
                curves.extend(bag.fcurves)
    return curves


def imported_animation(before: set[str]) -> tuple[list[bpy.types.Object], bpy.types.Object | None, bpy.types.Action | None]:
    """The objects a file brought in, its largest armature and that armature's action."""
    new = [o for o in bpy.data.objects if o.name not in before]
    armatures = [o for o in new if o.type == "ARMATURE"]
    armature = max(armatures, key=lambda a: len(a.data.bones)) if armatures else None
    action = None
    if armature is not None and armature.animation_data is not None:
        action = armature.animation_data.action
        if action is None:
            for track in armature.animation_data.nla_tracks:
                for strip in track.strips:
                    if strip.action is not None:
                        action = strip.action
                        break
                if action is not None:
                    break
    return new, armature, action


def hip_height(armature: bpy.types.Object, bones: dict[str, str]) -> float | None:
    """|Hips head| of the rest pose in world units (object rotation and scale, no translation)."""
    full = bones.get("Hips")
    if full is None:
        return None
    return (armature.matrix_world.to_3x3() @ armature.data.bones[full].head_local).length


def rest_facing(armature: bpy.types.Object, bones: dict[str, str]) -> float | None:
    """World azimuth of a Mixamo-named rig's front in rest pose (facing.py's convention)."""
    if "RightArm" not in bones or "LeftArm" not in bones:
        return None
    heads = [armature.matrix_world @ armature.data.bones[bones[n]].head_local for n in ("RightArm", "LeftArm")]
    return flat_azimuth(heads[0] - heads[1])


def facing_turn(source: bpy.types.Object, source_bones: dict[str, str], target: Character) -> Matrix:
    """Rotation about world Z that turns the file's rest facing onto the character's."""
    source_deg = rest_facing(source, source_bones)
    if source_deg is None:
        return Matrix.Identity(3)
    try:
        target_deg = find_facing(target).facing_deg
    except CharacterError:
        return Matrix.Identity(3)
    if angle_between(source_deg, target_deg) < 1e-3:
        return Matrix.Identity(3)
    return Matrix.Rotation(math.radians(target_deg - source_deg), 3, "Z")


def remove_objects(objects: list[bpy.types.Object]) -> None:
    for obj in objects:
        data = obj.data
        bpy.data.objects.remove(obj, do_unlink=True)
        if data is not None and data.users == 0:
            if isinstance(data, bpy.types.Armature):
                bpy.data.armatures.remove(data)
            elif isinstance(data, bpy.types.Mesh):
                bpy.data.meshes.remove(data)


def rest_rotation(armature: bpy.types.Object, bone: str) -> Quaternion:
    """The bone's rest orientation in world space (object rotation, no scale)."""
    return armature.matrix_world.to_quaternion() @ armature.data.bones[bone].matrix_local.to_quaternion()


def rest_mismatch(
    source: bpy.types.Object, source_bones: dict[str, str], target: Character, turn: Matrix
) -> str | None:
    """Why the two rest poses differ too much to copy rotations (e.g. A-pose vs T-pose), or None."""
    for short in CHECKED_BONES:
        if short not in source_bones or short not in target.bones:
            continue
        s_bone = source.data.bones[source_bones[short]]
        t_bone = target.armature.data.bones[target.bones[short]]
        s_dir = turn @ (source.matrix_world.to_quaternion() @ (s_bone.tail_local - s_bone.head_local))
        t_dir = target.armature.matrix_world.to_quaternion() @ (t_bone.tail_local - t_bone.head_local)
        if s_dir.length < 1e-9 or t_dir.length < 1e-9:
            continue
        angle = math.degrees(s_dir.angle(t_dir))
        if angle > REST_TOLERANCE_DEG:
            return f"the rest poses differ: {short} points {angle:.0f} deg apart (an A-pose and a T-pose rig?)"
    return None


def bone_curves(action: bpy.types.Action) -> dict[str, dict[str, list]]:
    """bone name -> property -> F-curves (by array index)."""
    out: dict[str, dict[str, list]] = {}
    for curve in action_fcurves(action):
        match = BONE_PATH.match(curve.data_path)
        if match is not None:
            out.setdefault(match.group(1), {}).setdefault(match.group(2), []).append(curve)
    return out


def remap_quaternions(curves: list, source_rest: Quaternion, target_rest: Quaternion, turn: Quaternion) -> None:
    """Rewrite a bone's quaternion keys so that the rotation from rest, seen in world space and
    turned to the character's facing, is the same on the target bone, whose rest axes may
    differ (FBX vs glTF bone orientation): q_t = C q_s C^-1 with C = T^-1 R S, S and T the
    bones' world rest rotations and R the facing turn."""
    by_index = {c.array_index: c for c in curves}
    if set(by_index) != {0, 1, 2, 3}:
        return
    correction = target_rest.inverted() @ turn @ source_rest
    if correction.angle < 1e-6:
        return
    rekey(by_index, lambda values: correction @ Quaternion(values) @ correction.inverted())


def rekey(by_index: dict[int, bpy.types.FCurve], transform: Callable[[list[float]], Sequence[float]]) -> None:
    """Key every curve (by array index) at the union of their frames with `transform` of the
    values there: the curves of one property change together (a rotation, a translation)."""
    frames = sorted({round(p.co.x, 4) for c in by_index.values() for p in c.keyframe_points})
    count = len(by_index)
    values = [transform([by_index[i].evaluate(frame) for i in range(count)]) for frame in frames]
    for i in range(count):
        curve = by_index[i]
        curve.keyframe_points.clear()
        curve.keyframe_points.add(len(frames))
        for point, frame, value in zip(curve.keyframe_points, frames, values):
            point.co = (frame, value[i])
            point.interpolation = "LINEAR"
        curve.update()


def remap_location(curves: list, carry: Matrix) -> None:
    """Rewrite a bone's location keys (x, y, z curves) as carry @ location."""
    by_index = {c.array_index: c for c in curves}
    if set(by_index) != {0, 1, 2} or all(
        abs(carry[i][j] - (1.0 if i == j else 0.0)) < 1e-9 for i in range(3) for j in range(3)
    ):
        return
    rekey(by_index, lambda values: carry @ Vector(values))


def hips_location_carry(
    source: bpy.types.Object, source_bone: str, target: bpy.types.Object, target_bone: str, scale: float, turn: Matrix
) -> Matrix:
    """Source Hips location (its rest frame, armature units) -> the target's, through world
    space: scaled by the hip heights' ratio and turned to the target's facing."""
    to_world_source = source.matrix_world.to_3x3() @ source.data.bones[source_bone].matrix_local.to_3x3()
    to_world_target = target.matrix_world.to_3x3() @ target.data.bones[target_bone].matrix_local.to_3x3()
    return to_world_target.inverted() @ (turn * scale) @ to_world_source


def retarget_action(
    source_armature: bpy.types.Object,
    source: bpy.types.Action,
    source_bones: dict[str, str],
    target: Character,
    scale: float,
    name: str,
    turn: Matrix,
) -> tuple[bpy.types.Action, int]:
    """A copy of `source` whose bone curves drive the target's bones; returns it and how many
    curves were dropped (bones the target lacks, and the file's object-level transform)."""
    action = source.copy()
    action.name = f"posefactory_anim_{name}"
    action.use_fake_user = True
    to_target = {full: target.bones[short] for short, full in source_bones.items() if short in target.bones}
    dropped = 0
    for curve in action_fcurves(action):
        if BONE_PATH.match(curve.data_path) is None:
            curve.mute = True  # the file's own object transform: the character keeps its placement
            dropped += 1
    for bone, props in bone_curves(action).items():
        if bone not in to_target:
            for curves in props.values():
                for curve in curves:
                    curve.mute = True  # a bone the character does not have
                    dropped += 1
            continue
        target_bone = to_target[bone]
        pose_bone = target.armature.pose.bones[target_bone]
        for prop, curves in props.items():
            for curve in curves:
                curve.data_path = f'pose.bones["{target_bone}"].{prop}'
            if prop == "rotation_quaternion":
                pose_bone.rotation_mode = "QUATERNION"  # keys only act in the bone's own mode
                remap_quaternions(
                    curves,
                    rest_rotation(source_armature, bone),
                    rest_rotation(target.armature, target_bone),
                    turn.to_quaternion(),
                )
            elif prop == "rotation_euler":
                pose_bone.rotation_mode = source_armature.pose.bones[bone].rotation_mode
            elif prop == "location" and strip_prefix(bone) == "Hips":
                carry = hips_location_carry(source_armature, bone, target.armature, target_bone, scale, turn)
                remap_location(curves, carry)
    return action, dropped


def apply_animations(character: Character, folder: Path) -> list[AnimationResult]:
    """Add one clip per fitting animation file to `character.clips`; report every file."""
    results: list[AnimationResult] = []
    # Case-insensitively unique: "Wave" and "wave" would share a folder on macOS and Windows.
    used = {c.name.lower() for c in character.clips}
    for path in list_animations(folder):
        clip_name = safe_segment(path.stem)
        while clip_name.lower() in used:
            clip_name += "_"
        before = {o.name for o in bpy.data.objects}
        try:
            import_file(path)
        except CharacterError as exc:
            results.append(AnimationResult(path.name, clip_name, "skipped", str(exc)))
            remove_objects([o for o in bpy.data.objects if o.name not in before])
            continue
        objects, armature, source = imported_animation(before)
        try:
            if armature is None or source is None:
                results.append(AnimationResult(path.name, clip_name, "skipped", "no armature with an animation in the file"))
                continue
            source_bones = {strip_prefix(b.name): b.name for b in armature.pose.bones}
            animated = {
                strip_prefix(m.group(1))
                for c in action_fcurves(source)
                if (m := BONE_PATH.match(c.data_path)) is not None
            }
            shared = animated & set(character.bones)
            if "Hips" not in shared or len(shared) < MIN_SHARED * max(1, len(animated)):
                results.append(
                    AnimationResult(
                        path.name,
                        clip_name,
                        "skipped",
                        f"the rig does not match: {len(shared)} of the file's {len(animated)} animated bones "
                        f"are in the character (names after the mixamorig prefix; Hips {'found' if 'Hips' in shared else 'missing'})",
                    )
                )
                continue
            source_hips, target_hips = hip_height(armature, source_bones), hip_height(character.armature, character.bones)
            scale = target_hips / source_hips if source_hips and target_hips else 1.0
            turn = facing_turn(armature, source_bones, character)
            mismatch = rest_mismatch(armature, source_bones, character, turn)
            if mismatch is not None:
                results.append(AnimationResult(path.name, clip_name, "skipped", mismatch))
                continue
            action, dropped = retarget_action(armature, source, source_bones, character, scale, clip_name, turn)
            start, end = action_range([action])
            character.clips.append(
                Clip(name=clip_name, source_name=path.stem, frame_start=start, frame_end=max(start, end),
                     actions={character.armature.name: action})
            )  # fmt: skip
            used.add(clip_name.lower())
            note = f"{dropped} curves of bones the character lacks dropped" if dropped else ""
            results.append(AnimationResult(path.name, clip_name, "applied", note))
        finally:
            remove_objects(objects)
    if character.armature.animation_data is None:
        character.armature.animation_data_create()
    if character.armature not in character.animated:
        character.animated.append(character.armature)
    return results
