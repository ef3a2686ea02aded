"""Rig profiles: which bone of a skeleton is which joint, for any humanoid naming convention.

A profile maps our joint names (JOINTS: the ones the keypoint table in keypoints.py uses) to
bone names. The joint is the bone's head: `left_shoulder` is the upper-arm bone (Mixamo
`LeftArm`), not the clavicle. Each built-in profile lists, per joint, the names its tool uses,
first match wins (a profile may cover several generations of one tool). Bone names are
compared after stripping Mixamo's `mixamorig:` / `mixamorig1_` prefix and any `namespace:`,
exactly first, then ignoring case. User profiles (`rigs.profiles` in the config, passed in
job.json) give one bone name or regular expression (full match, case-insensitive) per joint;
a user profile named like a built-in one replaces that built-in's entries joint by joint.

Detection scores every profile by the share of its required joints found, ties broken by
optional joints and signature bones (bones only that tool makes), and uses the best one with
every required joint. `rigs.assign` in the config forces a profile for a character. An
unknown rig raises RigError with the bones found, the closest profile and what it lacks, and
a ready-to-edit `rigs:` block for posefactory.yaml.

"Left" is the character's own left (MediaPipe and COCO): every convention below names sides
that way (`.L`, `_l`, `l...`, `Left...`, `_L_`). A mapping whose sides disagree with the
skeleton (left arm and left leg on opposite sides, or left on the right when the toes give
forward) is refused, since it would silently mirror the ground truth.

This module needs bpy only in the functions that take an armature: the tables and
`match_profile` run in plain Python (the tests pin them against documented names there).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

# Joints whose bones every profile must have: each is a landmark of its own.
REQUIRED_JOINTS: tuple[str, ...] = (
    "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
# Optional: missing ones are approximated (keypoints.py says how). `hips` (pelvis centre)
# defaults to the midpoint of the hip joints; `head_top` to the head bone's tail or a
# fraction of the torso.
OPTIONAL_JOINTS: tuple[str, ...] = (
    "hips", "spine", "neck", "head_top", "left_eye", "right_eye",
    "left_toe", "right_toe", "left_toe_end", "right_toe_end",
    "left_index", "right_index", "left_pinky", "right_pinky", "left_thumb", "right_thumb",
)  # fmt: skip
JOINTS: tuple[str, ...] = REQUIRED_JOINTS + OPTIONAL_JOINTS

# A profile below this share of required joints is not "the" profile of a rig, only the
# closest one named in the error.
DETECT_THRESHOLD = 0.6
NAMESPACE = re.compile(r"^(?:mixamorig\d*[:_]|.*[:|])")
BONE_LIST_LIMIT = 120


class RigError(Exception):
    """A skeleton posefactory cannot read joints from; the message is shown to the user as is."""


@dataclass
class Profile:
    name: str
    joints: dict[str, list[str]]  # joint -> candidate bone names (user: one name or regex)
    source: str = ""
    signature: tuple[str, ...] = ()  # exact bone names only this tool makes (tie-breaks)
    user: bool = False


@dataclass
class RigMatch:
    profile: str
    score: float  # share of required joints found
    joints: dict[str, str]  # joint -> pose bone name (full name, as in the armature)
    missing: list[str] = field(default_factory=list)  # required joints not found
    optional_found: int = 0
    signature_found: int = 0

    def manifest(self) -> dict[str, Any]:
        return {"profile": self.profile, "score": round(self.score, 4), "mappedBones": dict(self.joints)}


def sided(left: str, right: str, **joints: str | list[str]) -> dict[str, list[str]]:
    """Expand `{shoulder: "{S}Arm"}` into left_/right_ entries; `{S}` is the side's spelling."""
    out: dict[str, list[str]] = {}
    for joint, names in joints.items():
        names = [names] if isinstance(names, str) else names
        out[f"left_{joint}"] = [n.replace("{S}", left) for n in names]
        out[f"right_{joint}"] = [n.replace("{S}", right) for n in names]
    return out


def center(**joints: str | list[str]) -> dict[str, list[str]]:
    return {j: [n] if isinstance(n, str) else list(n) for j, n in joints.items()}


def merged(*parts: dict[str, list[str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in parts:
        for joint, names in part.items():
            out.setdefault(joint, []).extend(names)
    return out


BUILTIN_PROFILES: list[Profile] = [
    # Mixamo's skeleton (the bone names of every character and animation downloaded from
    # mixamo.com; the same list is MPFB's data/rigs/standard/rig.mixamo.json).
    Profile(
        name="mixamo",
        source="Mixamo FBX downloads (mixamorig:*), as in MPFB2 data/rigs/standard/rig.mixamo.json",
        joints=merged(
            center(hips="Hips", spine="Spine", neck="Neck", head="Head", head_top="HeadTop_End"),
            sided("Left", "Right", eye="{S}Eye", shoulder="{S}Arm", elbow="{S}ForeArm", wrist="{S}Hand",
                  hip="{S}UpLeg", knee="{S}Leg", ankle="{S}Foot", toe="{S}ToeBase", toe_end="{S}Toe_End",
                  index="{S}HandIndex1", pinky="{S}HandPinky1", thumb=["{S}HandThumb2", "{S}HandThumb1"]),
        ),  # fmt: skip
    ),
    # Blender's Rigify add-on: the deform (DEF-) bones of a rig generated from the human
    # metarig (rigs/limbs, spines/basic_spine; checked by generating one in Blender 3.4 and
    # 4.5: DEF-spine .. DEF-spine.006 run hips -> head, .004 is the neck). Rigify 3.x has no
    # DEF eye bone; ORG-eye.L is the eye's original bone. An FBX exported with "only deform
    # bones" keeps the DEF- names.
    Profile(
        name="rigify",
        source="Blender Rigify add-on, human metarig -> generated rig (DEF- bones)",
        joints=merged(
            center(hips="DEF-spine", spine="DEF-spine.001", neck="DEF-spine.004", head="DEF-spine.006"),
            sided("L", "R", eye=["DEF-eye.{S}", "ORG-eye.{S}"], shoulder="DEF-upper_arm.{S}",
                  elbow="DEF-forearm.{S}", wrist="DEF-hand.{S}", hip="DEF-thigh.{S}", knee="DEF-shin.{S}",
                  ankle="DEF-foot.{S}", toe="DEF-toe.{S}", index="DEF-f_index.01.{S}",
                  pinky="DEF-f_pinky.01.{S}", thumb=["DEF-thumb.02.{S}", "DEF-thumb.01.{S}"]),
        ),  # fmt: skip
        signature=("DEF-spine.006", "ORG-spine", "MCH-torso.parent", "root"),
    ),
    # MakeHuman / MPFB2: the "default" rig (data/rigs/standard/rig.default.json: spine05 at
    # the pelvis up to spine01, neck01-03, upperarm01.L, lowerarm01.L, wrist.L, upperleg01.L,
    # lowerleg01.L, foot.L, toe1-1.L, finger1-* thumb, finger2-1 index, finger5-1 little) and
    # the "game_engine" rig (rig.game_engine.json: Root, pelvis, spine_01, upperarm_l, ...,
    # Unreal's names; its capitalised `Root` tells it apart from Unreal's `root`).
    Profile(
        name="mpfb",
        source="MPFB2 (makehumancommunity/mpfb2) data/rigs/standard/rig.default.json and rig.game_engine.json",
        joints=merged(
            center(hips=["spine05", "pelvis"], spine=["spine03", "spine_01"], neck=["neck01", "neck_01"],
                   head="head"),
            sided("L", "R", eye="eye.{S}", shoulder="upperarm01.{S}", elbow="lowerarm01.{S}", wrist="wrist.{S}",
                  hip="upperleg01.{S}", knee="lowerleg01.{S}", ankle="foot.{S}", toe="toe1-1.{S}",
                  index="finger2-1.{S}", pinky="finger5-1.{S}", thumb=["finger1-2.{S}", "finger1-1.{S}"]),
            sided("l", "r", shoulder="upperarm_{S}", elbow="lowerarm_{S}", wrist="hand_{S}", hip="thigh_{S}",
                  knee="calf_{S}", ankle="foot_{S}", toe="ball_{S}", index="index_01_{S}", pinky="pinky_01_{S}",
                  thumb=["thumb_02_{S}", "thumb_01_{S}"]),
        ),  # fmt: skip
        signature=("root", "spine05", "upperarm02.L", "Root"),
    ),
    # DAZ Studio Genesis 3/8 (lShldrBend, lForearmBend, lThighBend, lShin, abdomenLower,
    # chestUpper, neckLower ...) and Genesis 9 (l_upperarm, l_forearm, l_thigh, l_shin,
    # spine1-4, neck1-2 ...), bone lists from the Diffeomorphic DAZ importer
    # (Diffeomorphic/import_daz data/boneprops/genesis8_female.json, genesis9.json); Genesis
    # 1/2's lShldr/lForeArm/lThigh as the last choice. Careful: G9's `l_shoulder` is the
    # clavicle, our shoulder joint is `l_upperarm`.
    Profile(
        name="daz",
        source="Diffeomorphic/import_daz data/boneprops/genesis8_female.json, genesis9.json",
        joints=merged(
            center(hips="hip", spine=["abdomenLower", "spine1", "abdomen"], neck=["neckLower", "neck1", "neck"],
                   head="head"),
            sided("l", "r", eye=["{S}Eye", "{S}_eye"], shoulder=["{S}ShldrBend", "{S}_upperarm", "{S}Shldr"],
                  elbow=["{S}ForearmBend", "{S}_forearm", "{S}ForeArm"], wrist=["{S}Hand", "{S}_hand"],
                  hip=["{S}ThighBend", "{S}_thigh", "{S}Thigh"], knee=["{S}Shin", "{S}_shin"],
                  ankle=["{S}Foot", "{S}_foot"], toe=["{S}Toe", "{S}_toes"], index=["{S}Index1", "{S}_index1"],
                  pinky=["{S}Pinky1", "{S}_pinky1"], thumb=["{S}Thumb2", "{S}_thumb2", "{S}Thumb1", "{S}_thumb1"]),
        ),  # fmt: skip
        signature=("pelvis", "chestUpper", "lCollar", "l_shoulder", "spine4", "lMetatarsals", "l_metatarsal"),
    ),
    # Reallusion Character Creator 3/4, iClone and ActorCore ("CC3+" skeleton), names from
    # CC/iC Blender Tools (soupday/cc_blender_tools rigify_mapping_data.py, G3 mappings).
    # CC's "Game Base" export uses Unreal's names (detected as `unreal`).
    Profile(
        name="cc",
        source="soupday/cc_blender_tools rigify_mapping_data.py (G3 / ActorCore bone mappings)",
        joints=merged(
            center(hips="CC_Base_Hip", spine="CC_Base_Waist", neck="CC_Base_NeckTwist01", head="CC_Base_Head"),
            sided("L", "R", eye="CC_Base_{S}_Eye", shoulder="CC_Base_{S}_Upperarm", elbow="CC_Base_{S}_Forearm",
                  wrist="CC_Base_{S}_Hand", hip="CC_Base_{S}_Thigh", knee="CC_Base_{S}_Calf",
                  ankle="CC_Base_{S}_Foot", toe="CC_Base_{S}_ToeBase", index="CC_Base_{S}_Index1",
                  pinky="CC_Base_{S}_Pinky1", thumb=["CC_Base_{S}_Thumb2", "CC_Base_{S}_Thumb1"]),
        ),  # fmt: skip
        signature=("CC_Base_BoneRoot", "CC_Base_Pelvis", "CC_Base_L_Clavicle"),
    ),
    # Epic's Unreal Engine mannequin: UE4 "SK_Mannequin" (spine_01-03, neck_01) and UE5
    # "Manny/Quinn" (spine_01-05, neck_01-02, twist and metacarpal bones), as in Epic's
    # skeleton and IK Retargeter documentation; the same names are MPFB's game_engine rig
    # and cc_blender_tools' GAME_BASE mappings.
    Profile(
        name="unreal",
        source="Unreal Engine UE4/UE5 mannequin skeleton (Epic docs; MPFB2 rig.game_engine.json; cc_blender_tools GAME_BASE)",
        joints=merged(
            center(hips="pelvis", spine="spine_01", neck="neck_01", head="head"),
            sided("l", "r", shoulder="upperarm_{S}", elbow="lowerarm_{S}", wrist="hand_{S}", hip="thigh_{S}",
                  knee="calf_{S}", ankle="foot_{S}", toe="ball_{S}", index="index_01_{S}", pinky="pinky_01_{S}",
                  thumb=["thumb_02_{S}", "thumb_01_{S}"]),
        ),  # fmt: skip
        signature=("root", "ik_foot_root", "ik_hand_root", "upperarm_twist_01_l", "spine_04", "spine_05", "neck_02"),
    ),
    # VRM avatars: VRoid Studio's bone names (J_Bip_C_Hips, J_Bip_L_UpperArm, J_Bip_L_Little1,
    # J_Adj_L_FaceEye ...), which most .vrm files carry, and as a fallback the VRM humanoid
    # bone names themselves (vrm-c/vrm-specification VRMC_vrm-1.0 humanoid.md: hips,
    # leftUpperArm, leftLowerArm, leftUpperLeg, leftToes ...) for files whose bones are named
    # after their humanoid roles. Rename a .vrm to .glb to import it.
    Profile(
        name="vrm",
        source="VRoid Studio J_Bip_* names; VRM 1.0 humanoid bone names (vrm-c/vrm-specification humanoid.md)",
        joints=merged(
            center(hips=["J_Bip_C_Hips", "hips"], spine=["J_Bip_C_Spine", "spine"], neck=["J_Bip_C_Neck", "neck"],
                   head=["J_Bip_C_Head", "head"]),
            sided("L", "R", eye="J_Adj_{S}_FaceEye", shoulder="J_Bip_{S}_UpperArm", elbow="J_Bip_{S}_LowerArm",
                  wrist="J_Bip_{S}_Hand", hip="J_Bip_{S}_UpperLeg", knee="J_Bip_{S}_LowerLeg", ankle="J_Bip_{S}_Foot",
                  toe="J_Bip_{S}_ToeBase", index="J_Bip_{S}_Index1", pinky="J_Bip_{S}_Little1",
                  thumb=["J_Bip_{S}_Thumb2", "J_Bip_{S}_Thumb1"]),
            sided("left", "right", eye="{S}Eye", shoulder="{S}UpperArm", elbow="{S}LowerArm", wrist="{S}Hand",
                  hip="{S}UpperLeg", knee="{S}LowerLeg", ankle="{S}Foot", toe="{S}Toes",
                  index="{S}IndexProximal", pinky="{S}LittleProximal",
                  thumb=["{S}ThumbProximal", "{S}ThumbIntermediate"]),
        ),  # fmt: skip
        signature=("J_Bip_C_UpperChest", "J_Bip_C_Chest", "J_Bip_L_Shoulder", "upperChest"),
    ),
]
BUILTIN_NAMES = tuple(p.name for p in BUILTIN_PROFILES)


def normalize(bone_name: str) -> str:
    """`mixamorig:LeftArm` -> `LeftArm`, `Character1:Hips` -> `Hips`."""
    return NAMESPACE.sub("", bone_name)


class BoneIndex:
    """Bone names of one armature, looked up as profiles spell them."""

    def __init__(self, names: list[str]) -> None:
        self.names = list(names)
        self.exact: dict[str, str] = {}
        self.folded: dict[str, str] = {}
        for name in names:
            short = normalize(name)
            for key in (name, short):
                self.exact.setdefault(key, name)
                self.folded.setdefault(key.casefold(), name)

    def find(self, candidate: str) -> str | None:
        short = normalize(candidate)
        return self.exact.get(candidate) or self.exact.get(short) or self.folded.get(short.casefold())

    def search(self, pattern: str) -> str | None:
        """A user's entry: a bone name, else a regular expression matching a whole name."""
        found = self.find(pattern)
        if found is not None:
            return found
        try:
            regex = re.compile(pattern, re.IGNORECASE)
        except re.error:
            return None
        for name in self.names:  # armature order: parents before children
            if regex.fullmatch(name) or regex.fullmatch(normalize(name)):
                return name
        return None


def match_profile(names: list[str] | BoneIndex, profile: Profile) -> RigMatch:
    """How well `profile` fits the bones `names` (pure: no bpy)."""
    index = names if isinstance(names, BoneIndex) else BoneIndex(names)
    joints: dict[str, str] = {}
    for joint, candidates in profile.joints.items():
        for candidate in candidates:
            found = index.search(candidate) if profile.user else index.find(candidate)
            if found is not None:
                joints[joint] = found
                break
    missing = [j for j in REQUIRED_JOINTS if j not in joints]
    return RigMatch(
        profile=profile.name,
        score=(len(REQUIRED_JOINTS) - len(missing)) / len(REQUIRED_JOINTS),
        joints={j: joints[j] for j in JOINTS if j in joints},
        missing=missing,
        optional_found=sum(1 for j in OPTIONAL_JOINTS if j in joints),
        signature_found=sum(1 for s in profile.signature if s in index.exact),
    )


def build_profiles(user_profiles: dict[str, dict[str, str]] | None) -> list[Profile]:
    """Built-ins, with user profiles first; a user profile named like a built-in extends it."""
    user_profiles = user_profiles or {}
    builtins = {p.name: p for p in BUILTIN_PROFILES}
    profiles: list[Profile] = []
    for name, joints in user_profiles.items():
        base = builtins.get(name)
        merged_joints = {j: list(c) for j, c in base.joints.items()} if base else {}
        merged_joints.update({j: [str(bone)] for j, bone in joints.items()})
        profiles.append(
            Profile(name=name, joints=merged_joints, source="rigs.profiles in the config", user=True,
                    signature=base.signature if base else ())
        )  # fmt: skip
    profiles += [p for p in BUILTIN_PROFILES if p.name not in user_profiles]
    return profiles


def rank(matches: list[RigMatch]) -> list[RigMatch]:
    """Best first: required share, then optional joints, then signature bones; stable."""
    return sorted(matches, key=lambda m: (-m.score, -m.signature_found, -m.optional_found))


def detect(
    names: list[str],
    user_profiles: dict[str, dict[str, str]] | None = None,
    assign: str | None = None,
    character: str = "character",
) -> RigMatch:
    """The profile to read joints with; RigError (with a ready-to-edit config block) otherwise."""
    index = BoneIndex(names)
    profiles = build_profiles(user_profiles)
    if assign is not None:
        chosen = next((p for p in profiles if p.name == assign), None)
        if chosen is None:
            known = ", ".join(p.name for p in profiles)
            raise RigError(f"rigs.assign names the profile {assign!r}, which does not exist (profiles: {known})")
        match = match_profile(index, chosen)
        if match.missing:
            raise RigError(unknown_rig_message(index, [match], character, forced=True))
        return match
    ranked = rank([match_profile(index, p) for p in profiles])
    best = ranked[0]
    if best.missing or best.score < DETECT_THRESHOLD:
        raise RigError(unknown_rig_message(index, ranked, character))
    return best


# Words that name a joint's bone in the conventions we know, for guessing in the error's
# suggested mapping (a guess is marked as such; the user checks it).
GUESS_WORDS: dict[str, tuple[str, ...]] = {
    "hips": ("hips", "hip", "pelvis", "root"),
    "spine": ("spine", "abdomen", "waist"),
    "neck": ("neck",),
    "head": ("head",),
    "head_top": ("headtop", "head_end", "headend", "head_top"),
    "shoulder": ("upperarm", "upper_arm", "uparm", "shldr", "arm"),
    "elbow": ("forearm", "lowerarm", "lower_arm", "loarm", "elbow"),
    "wrist": ("hand", "wrist"),
    "hip": ("thigh", "upleg", "upperleg", "upper_leg"),
    "knee": ("shin", "calf", "lowerleg", "lower_leg", "knee", "leg"),
    "ankle": ("foot", "ankle"),
    "toe": ("toebase", "toe", "ball"),
}
SIDE_TOKEN = r"(?:^|[._\-\s]){}(?:$|[._\-\s\d])"
SKIP_WORDS = ("twist", "pole", "mch-", "org-", "wgt", "_end", "tip", "ik_", "_ik")


def side_of(name: str) -> str | None:
    """`left`, `right` or None, from the spellings above (`.L`, `_l`, `_L_`, `lShin`, `Left`)."""
    short = normalize(name)
    low = short.lower()
    for side, letter in (("left", "l"), ("right", "r")):
        if side in low or re.search(SIDE_TOKEN.format(letter), low) or re.match(f"^{letter}[A-Z]", short):
            return side
    return None


def guess_bone(index: BoneIndex, joint: str, taken: set[str]) -> str | None:
    side = "left" if joint.startswith("left_") else "right" if joint.startswith("right_") else None
    words = GUESS_WORDS.get(joint.removeprefix("left_").removeprefix("right_"), ())
    for word in words:
        for name in index.names:
            low = normalize(name).lower()
            if name in taken or word not in low or any(w in low for w in SKIP_WORDS):
                continue
            if side_of(name) == side:
                return name
    return None


def yaml_quote(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid YAML scalar


def suggested_block(index: BoneIndex, closest: RigMatch, character: str) -> str:
    """A `rigs:` block for posefactory.yaml: found bones, guesses to check, gaps to fill."""
    profile_name = re.sub(r"[^A-Za-z0-9_-]+", "_", character).strip("_") or "custom"
    lines = ["rigs:", "  profiles:", f"    {profile_name}:"]
    taken = set(closest.joints.values())
    for joint in JOINTS:
        bone = closest.joints.get(joint)
        if bone is not None:
            lines.append(f"      {joint}: {yaml_quote(bone)}")
            continue
        guess = guess_bone(index, joint, taken)
        if guess is not None:
            taken.add(guess)
            lines.append(f"      {joint}: {yaml_quote(guess)}  # a guess: check it")
        elif joint in REQUIRED_JOINTS:
            lines.append(f"      # {joint}: \"?\"  # required: the bone whose head is the {joint.replace('_', ' ')}")
    lines += ["  assign:", f"    {yaml_quote(character)}: {profile_name}"]
    return "\n".join(lines)


def unknown_rig_message(index: BoneIndex, ranked: list[RigMatch], character: str, forced: bool = False) -> str:
    closest = ranked[0]
    found = len(REQUIRED_JOINTS) - len(closest.missing)
    lacks = ", ".join(closest.missing) or "nothing"
    head = (
        f"the rig does not fit the profile {closest.profile!r} that rigs.assign gives it"
        if forced
        else "unknown rig: no rig profile fits its bones"
    )
    shown = index.names[:BONE_LIST_LIMIT]
    more = f" ... and {len(index.names) - len(shown)} more" if len(index.names) > len(shown) else ""
    others = ", ".join(f"{m.profile} {m.score:.2f}" for m in ranked[1:4])
    if found == 0 and not forced:
        verdict = f"None of the profiles ({', '.join(m.profile for m in ranked)}) finds any of its joints."
    else:
        verdict = (
            f"Closest profile: {closest.profile} ({found} of {len(REQUIRED_JOINTS)} required joints"
            f"{'; then ' + others if others else ''}); it lacks: {lacks}."
        )
    return (
        f"{head}. {verdict}\n"
        f"Bones found ({len(index.names)}): {', '.join(shown)}{more}\n"
        "Map the joints to bones (a name or a regular expression) in posefactory.yaml, then run again:\n"
        f"{suggested_block(index, closest, character)}"
    )


def check_sides(heads: dict[str, Any]) -> str | None:
    """Why the mapping's left/right disagree with the skeleton (rest heads), or None.

    `heads` maps joints to rest positions (armature space, mathutils Vectors or 3-tuples).
    """
    def vec(j: str) -> tuple[float, float, float] | None:
        p = heads.get(j)
        return (float(p[0]), float(p[1]), float(p[2])) if p is not None else None

    def sub(a, b):  # type: ignore[no-untyped-def]
        return (a[0] - b[0], a[1] - b[1], a[2] - b[2])

    def dot(a, b) -> float:  # type: ignore[no-untyped-def]
        return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]

    def cross(a, b):  # type: ignore[no-untyped-def]
        return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])

    ls, rs, lh, rh = (vec(j) for j in ("left_shoulder", "right_shoulder", "left_hip", "right_hip"))
    if ls is None or rs is None or lh is None or rh is None:
        return None
    arms, legs = sub(ls, rs), sub(lh, rh)
    if dot(arms, legs) <= 0:
        return "its left shoulder and left hip lie on opposite sides of the body: one pair of sides is swapped in the mapping"
    head = vec("head")
    toes = [(vec(f"{s}_toe"), vec(f"{s}_ankle")) for s in ("left", "right")]
    if head is None or any(t is None or a is None for t, a in toes):
        return None
    mid_hips = tuple((lh[i] + rh[i]) / 2 for i in range(3))
    up = sub(head, mid_hips)
    forward = tuple(sum(sub(t, a)[i] for t, a in toes) for i in range(3))  # type: ignore[arg-type]
    if dot(cross(up, forward), legs) < 0:
        return (
            "its left side is on the character's right (seen with the toes pointing forward): "
            "the mapping's left and right are mirrored"
        )
    return None


# --- bpy side -------------------------------------------------------------------------


def bone_names(armature: Any) -> list[str]:
    return [b.name for b in armature.data.bones]


def rest_heads(armature: Any, joints: dict[str, str]) -> dict[str, Any]:
    bones = armature.data.bones
    return {j: bones[b].head_local.copy() for j, b in joints.items()}


def detect_rig(
    armature: Any,
    rigs: dict[str, Any] | None = None,
    character: str = "character",
    *aliases: str,
) -> RigMatch:
    """Detect (or take from rigs.assign) the profile of `armature` and check its sides.

    `rigs` is job.json's `rigs` block: `{profiles: {name: {joint: bone}}, assign: {character: profile}}`;
    `character` (and `aliases`, e.g. its folder-safe slug) is looked up in `assign`.
    """
    rigs = rigs or {}
    assigned = rigs.get("assign") or {}
    assign = next((assigned[n] for n in (character, *aliases) if n in assigned), None)
    match = detect(bone_names(armature), rigs.get("profiles"), assign, character)
    problem = check_sides(rest_heads(armature, match.joints))
    if problem is not None:
        raise RigError(f"the rig profile {match.profile!r} maps joints to bones, but {problem}")
    return match


def resolve_joints(armature: Any, profile: str | None = None, rigs: dict[str, Any] | None = None) -> dict[str, str]:
    """`{joint: pose bone name}` for `armature`: with the named profile, else the detected one.

    For code that needs a few joints (facing from the shoulders and hips, retargeting):
    raises RigError like detection does.
    """
    if profile is None:
        return detect_rig(armature, rigs).joints
    match = detect(bone_names(armature), (rigs or {}).get("profiles"), profile)
    return match.joints
