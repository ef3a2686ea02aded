"""Which way a character faces, from its rig's rest pose.

Camera azimuths are relative to the character's front: azimuth 0 looks at its face whatever
way the file's author turned it. Most Mixamo files face -Y once imported, but not all (a glTF
whose armature object is rotated -90 deg about X instead of +90 faces +Y), so the facing is
measured, not assumed:

    right   = R_shoulder - L_shoulder   (rest pose, world: armature.matrix_world @ head_local)
    forward = Z x right, flattened to the ground plane

The hips (RightUpLeg - LeftUpLeg) give a second estimate; when the two disagree by more than
45 deg the shoulders win and the caller gets a warning. The rest pose is used, not a clip's
first frame: a dance may start with the body already turned by 50 deg.

A clip may still face another way than the rest pose as a whole: three.js's Soldier.glb has its
rest pose turned 43.5 deg from the way all its clips face (136.5 vs about 180 deg). So each clip
is checked (`clip_facing`): the shoulders' azimuth on up to 16 frames spread over the clip, as
a circular mean. When the body keeps one direction through the clip (mean resultant >= 0.9)
and that direction is more than 20 deg from the rest pose's, the clip's cameras turn to it;
otherwise (the usual case, and any clip that turns around) the rest pose's facing stays, so
such files keep exactly the rig they had.

`facing_deg` is the world azimuth (cameras.py's convention: 0 = the camera on -Y, counter-
clockwise seen from above) of the character's front; a camera at relative azimuth `a` stands
at world azimuth `a + facing_deg`. It is rounded to 0.1 deg, so a character that faces -Y
up to float noise gets exactly 0 and today's camera rig.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import bpy
from mathutils import Vector

from .character import Character, CharacterError

SHOULDERS = (("RightArm", "LeftArm"), ("RightShoulder", "LeftShoulder"))
HIPS = ("RightUpLeg", "LeftUpLeg")
DISAGREEMENT_DEG = 45.0
# A clip faces its own way when its frames agree this well (mean resultant length) ...
CLIP_STEADY = 0.9
# ... on a direction this far from the rest pose's.
CLIP_TURNED_DEG = 20.0
CLIP_SAMPLES = 16


@dataclass
class Facing:
    facing_deg: float
    hips_deg: float | None
    warnings: list[str]


def rest_world(character: Character, name: str, joints: dict[str, str] | None = None) -> Vector | None:
    """Rest head in world space of a Mixamo bone name, or of a joint (rigs.py) when `joints` is given."""
    full = joints.get(name) if joints is not None else character.bones.get(name)
    if full is None:
        return None
    return character.armature.matrix_world @ character.armature.data.bones[full].head_local


def flat_azimuth(right: Vector) -> float | None:
    """World azimuth of forward = Z x right on the ground; None when right is (nearly) vertical."""
    forward = Vector((0.0, 0.0, 1.0)).cross(right)
    forward.z = 0.0
    if forward.length < 1e-9 * max(1.0, right.length):
        return None
    # cameras.direction(az) on the ground is (sin az, -cos az).
    return math.degrees(math.atan2(forward.x, -forward.y)) % 360.0


def pair_azimuth(
    character: Character, right_name: str, left_name: str, joints: dict[str, str] | None = None
) -> float | None:
    right, left = rest_world(character, right_name, joints), rest_world(character, left_name, joints)
    if right is None or left is None:
        return None
    return flat_azimuth(right - left)


def angle_between(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def find_facing(character: Character, joints: dict[str, str] | None = None) -> Facing:
    """The character's front as a world azimuth, from the shoulders (hips as a cross-check).

    `joints` is the rig profile's mapping (rigs.py: joint -> bone); without it, Mixamo names.
    """
    if joints is not None:
        shoulders = pair_azimuth(character, "right_shoulder", "left_shoulder", joints)
        hips = pair_azimuth(character, "right_hip", "left_hip", joints)
    else:
        shoulders = next(
            (az for r, l in SHOULDERS if (az := pair_azimuth(character, r, l)) is not None),
            None,
        )
        hips = pair_azimuth(character, *HIPS)
    chosen = shoulders if shoulders is not None else hips
    if chosen is None:
        raise CharacterError(
            f"{character.path.name}: cannot tell which way the character faces: the rig has no "
            "LeftArm/RightArm or LeftUpLeg/RightUpLeg bones side by side (Mixamo names expected)"
        )
    warnings: list[str] = []
    if shoulders is not None and hips is not None and angle_between(shoulders, hips) > DISAGREEMENT_DEG:
        warnings.append(
            f"shoulders and hips of the rest pose disagree on the facing ({shoulders:.0f} vs {hips:.0f} deg); "
            "using the shoulders"
        )
    facing = round(chosen, 1) % 360.0
    return Facing(facing_deg=facing, hips_deg=None if hips is None else round(hips, 1), warnings=warnings)


def posed_world(character: Character, name: str, joints: dict[str, str] | None = None) -> Vector | None:
    """Posed head (this frame) in world space of a Mixamo bone name or a rig profile's joint."""
    full = joints.get(name) if joints is not None else character.bones.get(name)
    if full is None:
        return None
    return character.armature.matrix_world @ character.armature.pose.bones[full].head


def clip_facing(
    character: Character, frames: list[int], rest_deg: float, joints: dict[str, str] | None = None
) -> tuple[float, str | None]:
    """The clip's facing (world azimuth) and, when it is not the rest pose's, why.

    `frames` are the clip's frames; the clip's action must be active. Leaves the scene on the
    last sampled frame (the caller sets the frames it renders)."""
    pairs = [("right_shoulder", "left_shoulder")] if joints is not None else list(SHOULDERS)
    step = max(1, len(frames) // CLIP_SAMPLES)
    x = y = 0.0
    count = 0
    for frame in frames[::step][:CLIP_SAMPLES]:
        bpy.context.scene.frame_set(frame)
        for right_name, left_name in pairs:
            right, left = posed_world(character, right_name, joints), posed_world(character, left_name, joints)
            if right is None or left is None:
                continue
            az = flat_azimuth(right - left)
            if az is not None:
                x += math.cos(math.radians(az))
                y += math.sin(math.radians(az))
                count += 1
            break
    if count == 0:
        return rest_deg, None
    steady = math.hypot(x, y) / count
    mean = math.degrees(math.atan2(y, x)) % 360.0
    if steady < CLIP_STEADY or angle_between(mean, rest_deg) <= CLIP_TURNED_DEG:
        return rest_deg, None
    turned = round(mean, 1) % 360.0
    return turned, f"the clip faces {turned:g} deg, the rest pose {rest_deg:g} deg: its cameras follow the clip"

