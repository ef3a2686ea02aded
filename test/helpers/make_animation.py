"""A Mixamo-style "Without Skin" animation file for the retarget tests: an armature only, bones
named `mixamorig1:*` (the prefix differs from the sample character's `mixamorig:`), centimetre
FBX, one take: the sample's in-place wave (right arm raised and waving) over 30 frames.

    blender -b --factory-startup --python-exit-code 2 -P make_animation.py -- --out wave.fbx
"""

from __future__ import annotations

import sys
from pathlib import Path

BLENDER_DIR = Path(__file__).resolve().parents[2] / "blender"
sys.path.insert(0, str(BLENDER_DIR))

import bpy  # noqa: E402

import make_sample_character as sample  # noqa: E402


def main() -> None:
    argv = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []
    out = Path(argv[argv.index("--out") + 1])
    sample.PREFIX = "mixamorig1:"
    sample.clear_scene()
    arm = sample.build_armature()
    sample.new_action(arm, "mixamo.com")
    sample.key_wave(arm, 30)
    # Frame 0 holds the rest (T-)pose and is the current frame while exporting: without a skin
    # the importer takes each bone's rest from the file's node transforms, which the exporter
    # writes from the current frame. Mixamo's own files carry the T-pose the same way.
    sample.reset_pose(arm)
    for pose_bone in arm.pose.bones:
        pose_bone.keyframe_insert("rotation_quaternion", frame=0)
        pose_bone.keyframe_insert("location", frame=0)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, 30
    scene.frame_set(0)
    scene.name = "mixamo.com"
    sample.export_fbx(out)
    print(f"animation written to {out}", flush=True)


if __name__ == "__main__":
    main()
