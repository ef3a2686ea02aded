"""Import one character (FBX, glTF/GLB or .blend), find its rig and its clips.

- Mixamo rigs name bones `mixamorig:Hips`, `mixamorig1_Hips`, ...: the prefix is stripped to
  look bones up. Mixamo FBX files hold centimetres, so the armature object comes in with a
  0.01 scale: it is kept, and every position goes through `matrix_world`.
- A clip is one animation. FBX takes come back as actions named `<object>|<take>|<layer>`;
  the glTF importer makes one muted NLA track per animation on each animated object, named
  after the animation; a .blend file brings its actions. Importers do not set the scene's
  frame range, so a clip's range comes from its actions' `frame_range` (the FBX importer
  shifts keys by +1: keys 1..120 come back as 2..121).
- A character without animation renders its one pose as the clip "still".
- Any problem (corrupt file, no armature, no mesh) raises CharacterError with a message that
  says what is wrong; the caller records it and goes on with the next character.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import bpy

from .names import slug, unique

MIXAMO_PREFIX = re.compile(r"^mixamorig\d*[:_]")
# The glTF importer converts seconds to frames with the scene's fps; Mixamo animates at 30.
IMPORT_FPS = 30
STILL_CLIP = "still"


class CharacterError(Exception):
    """A character that cannot be rendered; the message is shown to the user as is."""


@dataclass
class Clip:
    name: str  # safe as a path segment; part of every output path
    source_name: str  # as found in the file
    frame_start: int
    frame_end: int
    actions: dict[str, bpy.types.Action] = field(default_factory=dict)  # object name -> action


@dataclass
class Character:
    name: str
    path: Path
    armature: bpy.types.Object
    meshes: list[bpy.types.Object]
    clips: list[Clip]
    bones: dict[str, str]  # name without the Mixamo prefix -> pose bone name
    animated: list[bpy.types.Object]
    root_bone: str | None = None  # the rig profile's hips bone (rigs.py), once detected

    def pose_bone(self, name: str) -> bpy.types.PoseBone | None:
        full = self.bones.get(name)
        return self.armature.pose.bones[full] if full is not None else None


def strip_prefix(bone_name: str) -> str:
    return MIXAMO_PREFIX.sub("", bone_name)


def safe_segment(name: str) -> str:
    """A clip name usable as one path segment and key: a readable slug (names.py)."""
    return slug(name, "clip")


def reset_scene() -> None:
    """An empty scene, as if Blender had just started: one process renders many characters.
    Started with factory settings (both launchers), reading the home file again gives the same
    empty scene as read_factory_settings in 6-10 ms instead of 45-120: the latter also resets
    the preferences and registers every add-on again (configure_render sets the devices anyway)."""
    if bpy.app.factory_startup:
        bpy.ops.wm.read_homefile(use_empty=True)
    else:  # a user's startup file: its scene settings must not carry over
        bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = IMPORT_FPS
    scene.render.fps_base = 1.0


def import_file(path: Path) -> None:
    suffix = path.suffix.lower()
    if not path.is_file():
        raise CharacterError(f"character file not found: {path}")
    try:
        if suffix == ".fbx":
            bpy.ops.import_scene.fbx(filepath=str(path))
        elif suffix in (".glb", ".gltf"):
            import numpy

            if "bool" not in numpy.__dict__:
                numpy.bool = bool  # type: ignore[attr-defined]  # 3.x importer uses np.bool
            bpy.ops.import_scene.gltf(filepath=str(path))
        elif suffix == ".blend":
            append_blend(path)
        else:
            raise CharacterError(f"{path.name}: unsupported file type {suffix!r} (use .fbx, .glb, .gltf or .blend)")
    except CharacterError:
        raise
    except Exception as exc:  # importers raise RuntimeError, ValueError, struct.error, ...
        first_line = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise CharacterError(f"cannot import {path.name}: {first_line} (is the file complete and valid?)") from exc


def append_blend(path: Path) -> None:
    """Bring a .blend file's objects and actions into the current scene."""
    with bpy.data.libraries.load(str(path), link=False) as (data_from, data_to):
        data_to.objects = list(data_from.objects)
        data_to.actions = list(data_from.actions)
    # Bone widgets (Rigify's WGT-* meshes) are meshes too, but only drawn in the viewport.
    shapes = {
        pose_bone.custom_shape.name
        for obj in data_to.objects
        if obj is not None and obj.type == "ARMATURE" and obj.pose is not None
        for pose_bone in obj.pose.bones
        if pose_bone.custom_shape is not None
    }
    for obj in data_to.objects:
        if obj is not None and obj.type in {"ARMATURE", "MESH", "EMPTY"} and obj.name not in shapes:
            bpy.context.scene.collection.objects.link(obj)


def pick_armature(objects: list[bpy.types.Object], path: Path) -> bpy.types.Object:
    armatures = [o for o in objects if o.type == "ARMATURE"]
    if not armatures:
        raise CharacterError(f"{path.name}: no armature found; posefactory needs a rigged character (e.g. from Mixamo)")
    return max(armatures, key=lambda a: len(a.data.bones))


def pick_meshes(objects: list[bpy.types.Object], armature: bpy.types.Object, path: Path) -> list[bpy.types.Object]:
    meshes = [o for o in objects if o.type == "MESH"]
    skinned = [
        m
        for m in meshes
        if m.parent == armature or any(mod.type == "ARMATURE" and mod.object == armature for mod in m.modifiers)
    ]
    chosen = skinned or meshes
    if not chosen:
        raise CharacterError(f"{path.name}: no mesh found; the character has a skeleton but nothing to render")
    return chosen


def action_range(actions: list[bpy.types.Action]) -> tuple[int, int]:
    starts = [a.frame_range[0] for a in actions]
    ends = [a.frame_range[1] for a in actions]
    return int(round(min(starts))), int(round(max(ends)))


def find_clips(objects: list[bpy.types.Object], armature: bpy.types.Object) -> list[Clip]:
    """Every animation of the file as a clip, in file order."""
    by_name: dict[str, dict[str, bpy.types.Action]] = {}
    # glTF: one NLA track per animation and object, named after the animation.
    for obj in objects:
        if obj.animation_data is None:
            continue
        for track in obj.animation_data.nla_tracks:
            for strip in track.strips:
                if strip.action is not None:
                    by_name.setdefault(track.name, {})[obj.name] = strip.action
    if not by_name:
        # FBX takes: "<object>|<take>|<layer>"; other files: one clip per action.
        names = {o.name for o in objects}
        users = {
            o.animation_data.action.name: o.name
            for o in objects
            if o.animation_data is not None and o.animation_data.action is not None
        }
        for action in bpy.data.actions:
            parts = action.name.split("|")
            if len(parts) >= 2 and parts[0] in names:
                clip_name, target = parts[1], parts[0]
            else:
                clip_name, target = action.name, users.get(action.name, armature.name)
            by_name.setdefault(clip_name, {})[target] = action
    clips: list[Clip] = []
    # Suffixes for colliding slugs follow the sorted names, not the importer's order (which
    # may differ between Blender versions): the same file always gives the same folders.
    used: set[str] = set()
    names = {source: unique(safe_segment(source), used) for source in sorted(by_name)}
    for source_name, actions in by_name.items():
        start, end = action_range(list(actions.values()))
        name = names[source_name]
        clips.append(Clip(name=name, source_name=source_name, frame_start=start, frame_end=max(start, end), actions=actions))
    if not clips:
        frame = bpy.context.scene.frame_current
        clips.append(Clip(name=STILL_CLIP, source_name=STILL_CLIP, frame_start=frame, frame_end=frame))
    return clips


def load_character(name: str, path: Path) -> Character:
    """Import into an empty scene; raise CharacterError when it cannot be rendered."""
    reset_scene()
    import_file(path)
    objects = list(bpy.context.scene.objects)
    if not objects:
        raise CharacterError(f"{path.name}: the file imported no objects (empty or corrupt?)")
    armature = pick_armature(objects, path)
    meshes = pick_meshes(objects, armature, path)
    animated = [o for o in objects if o.animation_data is not None]
    bones = {strip_prefix(b.name): b.name for b in armature.pose.bones}
    return Character(
        name=name,
        path=path,
        armature=armature,
        meshes=meshes,
        clips=find_clips(objects, armature),
        bones=bones,
        animated=animated,
    )


def select_clips(character: Character, wanted: list[str] | None) -> list[Clip]:
    """The clips the job asks for (by file name or path name); all when it names none."""
    if not wanted:
        return character.clips
    chosen = [c for c in character.clips if c.source_name in wanted or c.name in wanted]
    if not chosen:
        available = ", ".join(repr(c.source_name) for c in character.clips)
        raise CharacterError(
            f"{character.path.name}: none of the clips {wanted!r} is in this file; it has {available} (check `clips` in the config)"
        )
    return chosen


def ensure_action_slot(data: bpy.types.AnimData) -> None:
    """Blender 4.4+ (slotted actions): make sure the assigned action animates its owner.

    Assigning `AnimData.action` auto-picks a slot only in some cases (same slot name as last
    time, slot named after the ID, or a single never-assigned slot); otherwise the action is
    assigned but animates nothing and every frame would render the rest pose. Fall back to
    the first slot Blender calls suitable, else the action's only slot. Blender < 4.3 has no
    `action_slot` (nothing to do); 4.3's legacy actions have no slots (nothing to pick).
    """
    if data.action is None or not hasattr(data, "action_slot") or data.action_slot is not None:
        return
    suitable = list(getattr(data, "action_suitable_slots", ()))
    own = list(getattr(data.action, "slots", ()))
    for slot in suitable or (own if len(own) == 1 else []):
        try:
            data.action_slot = slot
            return
        except (TypeError, ValueError, RuntimeError):  # a slot for another ID type
            continue


def apply_clip(character: Character, clip: Clip) -> None:
    """Make `clip` the only animation playing, and the scene's frame range."""
    for obj in set(character.animated) | {character.armature}:
        if obj.animation_data is None and obj.name not in clip.actions:
            continue
        data = obj.animation_data or obj.animation_data_create()
        for track in data.nla_tracks:
            track.mute = True
        had_action = data.action is not None
        data.action = clip.actions.get(obj.name)
        ensure_action_slot(data)
        if obj.type == "ARMATURE" and had_action and data.action is None:
            for pose_bone in obj.pose.bones:  # the last clip's pose would stay otherwise
                pose_bone.matrix_basis.identity()
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = clip.frame_start, clip.frame_end
    scene.frame_set(clip.frame_start)
