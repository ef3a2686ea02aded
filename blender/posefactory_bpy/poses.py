"""The armature's pose on every frame of a clip at once, without evaluating the scene per frame.

`scene.frame_set` evaluates the whole depsgraph: on Blender 4.5 that alone costs most of what
skinning a Mixamo character does. For the rigs this tool meets most (Mixamo FBX, glTF imports:
bones keyed by location / rotation / scale F-curves; no constraints, drivers or NLA; bones that
inherit rotation and scale and move in their own space) the pose is a chain of matrices,
    pose_b = pose_parent @ rest_parent^-1 @ rest_b @ T(location) @ R(rotation) @ S(scale),
with `rest` the bones' `matrix_local`: computed here for all frames with numpy, with the
armature object's keyed transform and the matrices of meshes parented to it or its bones.
Anything else (a reason from `unsupported`) is evaluated by Blender, frame by frame, as
before. The result is checked against Blender's own on one frame per clip (`sample_poses`),
so a rig that differs in a way not listed here is caught and evaluated by Blender too.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import bpy
import numpy as np

from .character import Character

CHANNEL = re.compile(r'^pose\.bones\["((?:[^"\\]|\\.)*)"\]\.(location|rotation_quaternion|rotation_euler|scale)$')
OBJECT_CHANNEL = re.compile(r"^(location|rotation_quaternion|rotation_euler|scale)$")
# F-curve keyframe interpolation (the enum's values as foreach_get reads them).
CONSTANT, LINEAR = 0, 1
EULER_ORDERS = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX")
# Blender's pose is float32; this chain is float64. A difference above this (relative to the
# rig's size) on a checked frame means the rig does something not modelled here.
MATCH_TOLERANCE = 1e-5
# The pose bone channels compute_poses reads (the names are F-curve paths' last parts too).
CHANNEL_SIZES = (("location", 3), ("rotation_quaternion", 4), ("rotation_euler", 3), ("scale", 3))
# Frames computed together in compute_poses (its temporaries: frames * bones * 16 floats each).
POSE_BLOCK_FRAMES = 64


def as_array(matrix) -> np.ndarray:  # noqa: ANN001 - mathutils.Matrix
    return np.array([list(row) for row in matrix], dtype=np.float64)


def action_fcurves(data: bpy.types.AnimData) -> list[bpy.types.FCurve]:
    """The F-curves the assigned action plays on its owner (Blender 4.4+: the slot's channelbag)."""
    action = data.action
    slot = getattr(data, "action_slot", None)
    if slot is not None:
        from bpy_extras import anim_utils  # 4.4+

        bag = anim_utils.action_get_channelbag_for_slot(action, slot)
        return list(bag.fcurves) if bag is not None else []
    return list(action.fcurves)


class Curve(NamedTuple):
    """An F-curve of the armature's action and what its path animates (read once per clip)."""

    fcurve: bpy.types.FCurve
    path: str
    bone: str | None  # the pose bone it moves; None: the armature object, or not a transform
    channel: str | None  # location, rotation_quaternion, rotation_euler or scale; None: other


def read_curves(data: bpy.types.AnimData) -> list[Curve]:
    """The assigned action's F-curves, each with its path parsed (CHANNEL, OBJECT_CHANNEL)."""
    curves = []
    for fcurve in action_fcurves(data):
        path = fcurve.data_path
        match = CHANNEL.match(path) or OBJECT_CHANNEL.match(path)
        if match is None:
            curves.append(Curve(fcurve, path, None, None))
        elif match.re is CHANNEL:
            curves.append(Curve(fcurve, path, match.group(1).replace('\\"', '"').replace("\\\\", "\\"), match.group(2)))
        else:
            curves.append(Curve(fcurve, path, None, match.group(1)))
    return curves


def unsupported(character: Character, curves: list[Curve]) -> str | None:
    """Why this character's pose cannot be computed here (Blender then evaluates it), or None."""
    armature = character.armature
    data = armature.animation_data
    if data is None or data.action is None:
        return "no action"
    if armature.parent is not None or armature.constraints:
        return "the armature has a parent or constraints"
    if data.drivers or any(not track.mute for track in data.nla_tracks) or data.use_tweak_mode:
        return "drivers or NLA"
    if data.action_blend_type != "REPLACE" or data.action_influence != 1.0 or getattr(data.action, "use_frame_range", False):
        return "the action blends, is weighted or has its own frame range"
    for mesh in character.meshes:
        if mesh.parent not in (None, armature) or mesh.constraints:
            return f"mesh {mesh.name!r} has another parent or constraints"
        if mesh.parent is not None and mesh.parent_type not in ("OBJECT", "BONE"):
            return f"mesh {mesh.name!r} is parented by {mesh.parent_type}"
        if mesh.parent is not None and mesh.parent_type == "BONE":
            bone = armature.data.bones.get(mesh.parent_bone)
            if bone is None or bone.use_relative_parent:
                return f"mesh {mesh.name!r} is parented to bone {mesh.parent_bone!r} relatively or not at all"
        if mesh.animation_data is not None and (mesh.animation_data.action is not None or mesh.animation_data.drivers):
            return f"mesh {mesh.name!r} is animated"
    for pose_bone in armature.pose.bones:
        bone = pose_bone.bone
        if pose_bone.constraints:
            return f"bone {pose_bone.name!r} has constraints"
        if pose_bone.rotation_mode not in ("QUATERNION", *EULER_ORDERS):
            return f"bone {pose_bone.name!r} rotates by {pose_bone.rotation_mode}"
        if not bone.use_inherit_rotation or bone.inherit_scale != "FULL" or not bone.use_local_location:
            return f"bone {pose_bone.name!r} does not inherit its parent's full transform"
    for fcurve, path, _, channel in curves:
        if fcurve.mute or fcurve.modifiers or fcurve.extrapolation != "CONSTANT":
            return f"F-curve {path} is muted, has modifiers or extrapolates"
        if channel is None:
            return f"F-curve {path} animates more than transforms"
    if armature.rotation_mode not in ("QUATERNION", *EULER_ORDERS):
        return f"the armature rotates by {armature.rotation_mode}"
    return None


def evaluate(fcurve: bpy.types.FCurve, frames: np.ndarray) -> np.ndarray:
    """The F-curve's values on the frames (evaluate_group, for one curve)."""
    x, y = read_keys(fcurve)
    return evaluate_group([fcurve], x.astype(np.float64), y.astype(np.float64)[None], frames)[0]


def read_keys(fcurve: bpy.types.FCurve) -> tuple[np.ndarray, np.ndarray]:
    """The keys' frames and values, float32 (Blender's own type: read 3x faster than float64)."""
    keys = np.empty(len(fcurve.keyframe_points) * 2, dtype=np.float32)
    fcurve.keyframe_points.foreach_get("co", keys)
    return keys[0::2], keys[1::2]


def evaluate_all(fcurves: list[bpy.types.FCurve], frames: np.ndarray) -> np.ndarray:
    """(fcurves, frames) `evaluate` of each F-curve, curves with the same key times at once: on
    hundreds of short curves numpy's per-call overhead was most of the pose computation. A
    baked curve (a key on every frame, as in Mixamo's FBX) is read into one shared array; the
    others are grouped by their key times (a glTF clip: its sampled channels, its constant ones)."""
    count = len(frames)
    keys = np.zeros((len(fcurves), count * 2), dtype=np.float32)  # rows of x0, y0, x1, y1, ...
    baked = np.zeros(len(fcurves), dtype=bool)
    for n, fcurve in enumerate(fcurves):
        points = fcurve.keyframe_points
        if count and len(points) == count:
            points.foreach_get("co", keys[n])
            baked[n] = True
    baked &= (keys[:, 0::2] == frames[None]).all(axis=1)  # frames are whole numbers: exact in float32
    values = keys[:, 1::2].astype(np.float64)
    groups: dict[bytes, tuple[np.ndarray, list[int], list[np.ndarray]]] = {}
    for n in np.flatnonzero(~baked):
        x, y = read_keys(fcurves[n])
        group = groups.setdefault(x.tobytes(), (x, [], []))
        group[1].append(int(n))
        group[2].append(y)
    for x, members, ys in groups.values():
        curves = [fcurves[n] for n in members]
        values[members] = evaluate_group(curves, x.astype(np.float64), np.array(ys, dtype=np.float64), frames)
    return values


def evaluate_group(curves: list[bpy.types.FCurve], x: np.ndarray, y: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """The values on the frames of curves whose keys are at the same times `x` (their values: the
    rows of `y`): read off the keys where every frame has one or lies outside them (held);
    linear and constant keys in numpy; any other interpolation by Blender."""
    count = len(x)
    if count == 0:
        return np.zeros((len(curves), len(frames)))
    at = np.clip(np.searchsorted(x, frames), 0, count - 1)
    if ((x[at] == frames) | (frames < x[0]) | (frames > x[-1])).all():
        return np.where(frames > x[-1], y[:, -1:], y[:, at])  # a curve passes through its keys
    modes = np.empty((len(curves), count), dtype=np.int32)
    for row, curve in zip(modes, curves):
        curve.keyframe_points.foreach_get("interpolation", row)
    linear = (modes[:, :-1] == LINEAR).all(axis=1)
    constant = ~linear & (modes[:, :-1] == CONSTANT).all(axis=1)
    result = np.empty((len(curves), len(frames)))
    if linear.any():
        if (np.diff(x) > 0).all() and np.isfinite(y[linear]).all():
            result[linear] = interpolate_linear(x, y[linear], frames)
        else:  # repeated key times, NaN: np.interp's own handling, a curve at a time
            result[linear] = [np.interp(frames, x, row) for row in y[linear]]
    if constant.any():
        result[constant] = y[constant][:, np.clip(np.searchsorted(x, frames, side="right") - 1, 0, count - 1)]
    for n in np.flatnonzero(~linear & ~constant):
        result[n] = [curves[n].evaluate(float(f)) for f in frames]
    return result


def interpolate_linear(x: np.ndarray, y: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """np.interp(frames, x, row) for every row of `y` at once, with np.interp's own arithmetic
    (x increasing): the end values held before and after the keys."""
    last = len(x) - 1
    j = np.searchsorted(x, frames, side="right") - 1  # x[j] <= frame < x[j + 1]
    inner = (j >= 0) & (j < last)
    k = np.clip(j, 0, max(last - 1, 0))
    held = np.where(j < 0, y[:, :1], y[:, -1:])
    if last == 0:
        return np.broadcast_to(held, (len(y), len(frames))).copy()
    slope = (y[:, k + 1] - y[:, k]) / (x[k + 1] - x[k])
    between = np.where(x[k] == frames, y[:, k], slope * (frames - x[k]) + y[:, k])
    return np.where(inner, between, held)


def quaternion_matrices(q: np.ndarray) -> np.ndarray:
    """(n, 4) w, x, y, z -> (n, 3, 3); Blender normalises first (a zero quaternion: identity)."""
    length = np.linalg.norm(q, axis=1, keepdims=True)
    unit = np.where(length > 0, q / np.where(length > 0, length, 1.0), [1.0, 0.0, 0.0, 0.0])
    w, x, y, z = unit.T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], axis=1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], axis=1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=1),
        ],
        axis=1,
    )


def euler_matrices(angles: np.ndarray, order: str) -> np.ndarray:
    """(frames, 3) radians about x, y, z, applied in `order` (Blender's XYZ: x first)."""
    frames = len(angles)
    result = np.broadcast_to(np.eye(3), (frames, 3, 3)).copy()
    for axis_name in order:
        axis = "XYZ".index(axis_name)
        c, s = np.cos(angles[:, axis]), np.sin(angles[:, axis])
        turn = np.broadcast_to(np.eye(3), (frames, 3, 3)).copy()
        i, j = [(1, 2), (2, 0), (0, 1)][axis]
        turn[:, i, i], turn[:, i, j], turn[:, j, i], turn[:, j, j] = c, -s, s, c
        result = turn @ result
    return result


def rotation_matrices(mode: str, quaternion: np.ndarray, euler: np.ndarray) -> np.ndarray:
    """(frames, 3, 3) from the channels of `mode` (QUATERNION or an Euler order)."""
    return quaternion_matrices(quaternion) if mode == "QUATERNION" else euler_matrices(euler, mode)


def compute_object(armature: bpy.types.Object, curves: list[Curve], frames: np.ndarray) -> np.ndarray:
    """(frames, 4, 4) the armature object's matrix_world (it has no parent): location + delta,
    delta rotation @ rotation, scale times delta scale, as Blender composes them."""
    count = len(frames)
    channels = {
        "location": np.array(armature.location)[None].repeat(count, 0),
        "rotation_quaternion": np.array(armature.rotation_quaternion)[None].repeat(count, 0),
        "rotation_euler": np.array(armature.rotation_euler)[None].repeat(count, 0),
        "scale": np.array(armature.scale)[None].repeat(count, 0),
    }
    for fcurve, _, bone, channel in curves:
        if bone is None and channel is not None:
            channels[channel][:, fcurve.array_index] = evaluate(fcurve, frames)
    mode = armature.rotation_mode
    rotation = rotation_matrices(mode, channels["rotation_quaternion"], channels["rotation_euler"])
    delta = rotation_matrices(
        mode, np.array(armature.delta_rotation_quaternion)[None], np.array(armature.delta_rotation_euler)[None]
    )
    world = np.zeros((count, 4, 4))
    world[:, :3, :3] = (delta @ rotation) * (channels["scale"] * np.array(armature.delta_scale))[:, None, :]
    world[:, :3, 3] = channels["location"] + np.array(armature.delta_location)
    world[:, 3, 3] = 1.0
    return world


def compute_poses(character: Character, curves: list[Curve], frames: np.ndarray) -> np.ndarray:
    """(frames, bones, 4, 4) `pose_bone.matrix` of every pose bone on every frame."""
    armature = character.armature
    pose_bones = list(armature.pose.bones)
    index = {pb.name: n for n, pb in enumerate(pose_bones)}
    count = len(frames)
    # Channels: the pose bones' current values, replaced by their F-curves where keyed.
    channels = {name: read_channel(armature.pose.bones, name, size)[None].repeat(count, 0) for name, size in CHANNEL_SIZES}
    location, quaternion, euler, scale = channels.values()
    keyed: list[tuple[np.ndarray, int, int]] = []  # (channel, bone, component) of each curve
    fcurves: list[bpy.types.FCurve] = []
    for fcurve, _, bone, channel in curves:
        if bone in index and channel is not None:
            keyed.append((channels[channel], index[bone], fcurve.array_index))
            fcurves.append(fcurve)
    for (channel, bone, component), values in zip(keyed, evaluate_all(fcurves, frames)):
        channel[:, bone, component] = values
    rest = rest_matrices(armature)
    rest_inv = np.linalg.inv(rest)
    # Down the hierarchy a level at a time: every bone of a level from its parent's pose.
    offset = rest.copy()  # a root's pose is rest @ local; a child's parent pose @ its offset @ local
    parents = np.array([index[pb.parent.name] if pb.parent is not None else -1 for pb in pose_bones])
    children = parents >= 0
    offset[children] = rest_inv[parents[children]] @ rest[children]
    levels = [(level[parents[level] < 0], level[parents[level] >= 0]) for level in hierarchy_levels(parents)]
    modes = [pb.rotation_mode for pb in pose_bones]
    by_mode = {mode: np.array([n for n, m in enumerate(modes) if m == mode]) for mode in set(modes)}
    poses = np.empty((count, len(pose_bones), 4, 4))
    # A block of frames at a time: the temporaries stay small (a whole long clip's were tens of
    # MB each, fresh pages from the OS every time); every frame is computed as before.
    for first in range(0, count, POSE_BLOCK_FRAMES):
        at = slice(first, min(first + POSE_BLOCK_FRAMES, count))
        # Every bone's T(location) @ R(rotation) @ S(scale) on these frames: (frames, bones, 4, 4)
        local = np.zeros((at.stop - at.start, len(pose_bones), 4, 4))
        for mode, bones in by_mode.items():
            if mode == "QUATERNION":
                rotation = quaternion_matrices(quaternion[at, bones].reshape(-1, 4))
            else:
                rotation = euler_matrices(euler[at, bones].reshape(-1, 3), mode)
            local[:, bones, :3, :3] = rotation.reshape(len(local), len(bones), 3, 3)
        local[:, :, :3, :3] *= scale[at, :, None, :]  # R @ S: columns scaled
        local[:, :, :3, 3] = location[at]
        local[:, :, 3, 3] = 1.0
        moved = offset[None] @ local
        block = poses[at]
        for top, below in levels:
            block[:, top] = moved[:, top]
            block[:, below] = block[:, parents[below]] @ moved[:, below]
    return poses


def read_channel(pose_bones: bpy.types.bpy_prop_collection, name: str, size: int) -> np.ndarray:
    """(bones, size) one transform channel of every pose bone, in one read (Blender's float32)."""
    flat = np.empty(len(pose_bones) * size, dtype=np.float32)
    pose_bones.foreach_get(name, flat)
    return flat.astype(np.float64).reshape(-1, size)


def rest_matrices(armature: bpy.types.Object) -> np.ndarray:
    """(pose bones, 4, 4) each pose bone's `bone.matrix_local`, in one read."""
    bones = armature.data.bones
    flat = np.empty(len(bones) * 16, dtype=np.float32)
    bones.foreach_get("matrix_local", flat)  # column-major, as pose_matrices reads
    index = {bone.name: n for n, bone in enumerate(bones)}
    order = [index[pb.name] for pb in armature.pose.bones]
    return flat.astype(np.float64).reshape(-1, 4, 4).transpose(0, 2, 1)[order]


def hierarchy_levels(parents: np.ndarray) -> list[np.ndarray]:
    """Bone indices by depth (roots first), from each bone's parent index (-1: none)."""
    depth = np.full(len(parents), -1)
    for n in range(len(parents)):
        chain = []
        while n >= 0 and depth[n] < 0:
            chain.append(n)
            n = parents[n]
        base = depth[n] if n >= 0 else -1
        for k, bone in enumerate(reversed(chain)):
            depth[bone] = base + 1 + k
    return [np.flatnonzero(depth == d) for d in range(int(depth.max(initial=-1)) + 1)]


def pose_matrices(armature: bpy.types.Object) -> np.ndarray:
    """(bones, 4, 4) `pose_bone.matrix` of every bone (armature space) as Blender has them now."""
    bones = armature.pose.bones
    flat = np.empty(len(bones) * 16, dtype=np.float32)
    bones.foreach_get("matrix", flat)  # Blender's column-major float[4][4]
    return flat.astype(np.float64).reshape(-1, 4, 4).transpose(0, 2, 1)


def blender_pose(character: Character, frame: int) -> tuple[np.ndarray, np.ndarray]:
    """Blender's own pose and armature matrix_world on `frame` (a full evaluation)."""
    bpy.context.scene.frame_set(frame)
    world = as_array(character.armature.matrix_world)
    return pose_matrices(character.armature), world


def compute_meshes(character: Character, poses: np.ndarray, worlds: np.ndarray) -> list[np.ndarray]:
    """(frames, 4, 4) matrix_world of each of the character's meshes: standing still without a
    parent; else the armature's (times, for a bone parent, the bone's pose moved to its tail, as
    Blender parents to a bone) @ matrix_parent_inverse @ matrix_basis."""
    names = {pb.name: n for n, pb in enumerate(character.armature.pose.bones)}
    result = []
    for mesh in character.meshes:
        local = as_array(mesh.matrix_parent_inverse) @ as_array(mesh.matrix_basis)
        if mesh.parent is None:
            result.append(np.broadcast_to(as_array(mesh.matrix_world), worlds.shape))
        elif mesh.parent_type == "BONE":
            bone = poses[:, names[mesh.parent_bone]].copy()
            bone[:, :3, 3] += bone[:, :3, 1] * character.armature.data.bones[mesh.parent_bone].length
            result.append(worlds @ bone @ local)
        else:
            result.append(worlds @ local)
    return result


def sample_poses(
    character: Character, frames: list[int]
) -> tuple[tuple[np.ndarray, np.ndarray, list[np.ndarray]] | None, str | None]:
    """Every frame's pose (frames, bones, 4, 4), armature matrix_world (frames, 4, 4) and each
    mesh's matrix_world, computed here and checked against Blender's on one frame; or None and
    why (then Blender must evaluate every frame)."""
    data = character.armature.animation_data
    curves = read_curves(data) if data is not None and data.action is not None else []
    reason = unsupported(character, curves)
    if reason is not None:
        return None, reason
    at = np.array(frames, dtype=np.float64)
    poses, worlds = compute_poses(character, curves, at), compute_object(character.armature, curves, at)
    meshes = compute_meshes(character, poses, worlds)
    # One full evaluation per clip (the dearest part on short clips): the frame whose bones
    # turned most from the first frame's, where a rig unlike this model shows most.
    turned = np.abs(poses[:, :, :3, :3] - poses[:1, :, :3, :3]).sum(axis=(1, 2, 3))
    n = int(np.argmax(turned))
    pose, world = blender_pose(character, frames[n])
    size = max(1.0, float(np.abs(poses[:, :, :3, 3]).max()))
    reach = max(1.0, float(np.abs(worlds[:, :3, 3]).max()), *(float(np.abs(m[:, :3, 3]).max()) for m in meshes))
    pairs = [(pose, poses[n], size), (world, worlds[n], reach)]
    pairs += [(as_array(mesh.matrix_world), m[n], reach) for mesh, m in zip(character.meshes, meshes)]
    for actual, computed, scale in pairs:
        difference = np.abs(actual - computed)
        if difference[..., :3, :3].max() > MATCH_TOLERANCE or difference[..., :3, 3].max() > MATCH_TOLERANCE * scale:
            return None, f"the computed pose differs from Blender's on frame {frames[n]}"
    return (poses, worlds, meshes), None
