"""Render every character of a job: images, ground-truth keypoints, manifest.

    blender -b --factory-startup --python-exit-code 2 -P render.py -- --job job.json
    python3 render.py -- --job job.json        (with the bpy wheel installed: module mode)

One Blender process renders all characters of the job. For each character: import, then
for each clip: bounding box over the clip (one pass), cameras fitted to it, then every
selected frame through every camera (image + keypoints). A character that fails is recorded
in manifest.json with its error and the others go on. Exit code: 0 all rendered, 1 some
character failed, 2 the job itself could not run (bad arguments or job.json, or an exception:
posefactory_bpy.entry makes both launchers exit 2 for it).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# numpy's matrix products here are small and many (the fast bounding box: one per group of
# vertices, ~150 per Mixamo character): OpenBLAS's threads cost more than they save on them
# (a 410-frame Mixamo clip's skinning on 2 cores: 17-20 ms single-threaded, 22-47 ms with 2
# threads). Read when numpy loads, which `import bpy` does in module mode; a value the user set
# is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import bpy  # noqa: E402

from posefactory_bpy import entry  # noqa: E402
from posefactory_bpy.bbox import ClipBox, measure_clip_box  # noqa: E402
from posefactory_bpy.cameras import (  # noqa: E402
    crop_warnings,
    extrinsics,
    intrinsics,
    place_shot,
    place_views,
    plan_shot,
    shot_camera,
)
from posefactory_bpy.appearance import Appearance, prepare_appearance, randomize_appearance  # noqa: E402
from posefactory_bpy.draws import rng_for  # noqa: E402
from posefactory_bpy.retarget import apply_animations  # noqa: E402
from posefactory_bpy.occluders import (  # noqa: E402
    Occluders,
    hide_behind,
    occluder_bvh,
    place_occluder,
    prepare_occluders,
)
from posefactory_bpy.scene import (  # noqa: E402
    SceneError,
    SceneState,
    mark_character,
    randomize,
    randomizes_world,
    rewire_compositor,
    setup_scene,
)
from posefactory_bpy.character import (  # noqa: E402
    Character,
    CharacterError,
    Clip,
    apply_clip,
    load_character,
    select_clips,
)
from posefactory_bpy.facing import clip_facing, find_facing  # noqa: E402
from posefactory_bpy.job import CharacterSpec, Job, load_job, resolve_file, select_frames  # noqa: E402
from posefactory_bpy.keypoints import (  # noqa: E402
    Rig,
    build_bvh,
    build_rig,
    label_image,
    world_geometry,
    world_landmarks,
)
from posefactory_bpy.log import error, log, warn  # noqa: E402
from posefactory_bpy.rigs import RigError, RigMatch, detect_rig  # noqa: E402
from posefactory_bpy.render import (  # noqa: E402
    RenderSetupError,
    add_lights,
    configure_outputs,
    configure_render,
    render_image,
)
from posefactory_bpy.writer import CocoWriter, ManifestWriter, image_relpath  # noqa: E402


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="render.py")
    parser.add_argument("--job", required=True, type=Path, help="job.json (src/render/job.schema.ts)")
    return parser.parse_args(argv)


def measure_box(character: Character, clip: Clip, job: Job) -> ClipBox:
    """Once per clip; the benchmark's `bboxPerCamera` repeats it per camera (the old way)."""
    box = measure_clip_box(character, clip, job.cameras.framing, job.cameras.bbox)
    if box.fallback:
        warn(f"{character.name}/{clip.name}: bounding box measured exactly: {box.fallback}")
    elif box.poses and box.poses.startswith("by Blender"):
        log(f"{character.name}/{clip.name}: bounding box poses read {box.poses}")
    if job.bbox_per_camera:
        cameras = len(job.cameras.azimuths_deg) * len(job.cameras.elevations_deg)
        for _ in range(cameras - 1):
            again = measure_clip_box(character, clip, job.cameras.framing, job.cameras.bbox)
            box.evaluations += 1
            box.seconds += again.seconds
    return box


def render_clip(
    character: Character,
    clip: Clip,
    job: Job,
    rig: Rig | None,
    coco: CocoWriter,
    result: dict,
    facing_deg: float = 0.0,
    scene_state: SceneState | None = None,
    appearance: Appearance | None = None,
    occluders: Occluders | None = None,
    joints: dict[str, str] | None = None,
) -> None:
    scene = bpy.context.scene
    resolution = job.render.resolution
    apply_clip(character, clip)
    facing_deg, turned = clip_facing(
        character, list(range(clip.frame_start, clip.frame_end + 1)), facing_deg, joints
    )
    if turned:
        log(f"{character.name}/{clip.name}: {turned}")

    box = measure_box(character, clip, job)
    result["seconds"]["bbox"] += box.seconds

    started = time.perf_counter()
    views = place_views(box, job.cameras, resolution, facing_deg)
    if job.cameras.distance_m is not None:
        for message in crop_warnings(box, views, job.cameras, resolution):
            warn(f"{character.name}/{clip.name}: {message}")
            result["warnings"].append(f"{clip.name}: {message}")
    K = intrinsics(job.cameras, resolution)
    frames = select_frames(job.frames, clip.frame_start, clip.frame_end)
    if not frames:
        raise CharacterError(f"clip {clip.name!r} (frames {clip.frame_start}-{clip.frame_end}) has none of the frames {job.frames}")
    cameras = []
    for view in views:
        R, t = extrinsics(view, box.target_at(frames[0]) + view.offset)
        cameras.append(
            {"id": view.id, "azimuthDeg": view.azimuth_deg, "elevationDeg": view.elevation_deg,
             "distanceM": round(view.distance_m, 4), "K": K, "R": R, "t": t}
        )  # fmt: skip
    result["seconds"]["cameras"] += time.perf_counter() - started

    started = time.perf_counter()
    extra_outputs = configure_outputs(job.outputs)
    if scene_state is not None or occluders is not None:
        rewire_compositor(scene_state)
    needs_render = job.outputs.rgb or extra_outputs is not None
    for frame in frames:
        scene.frame_set(frame)
        if rig is not None:
            landmarks = world_landmarks(character, rig)
            verts, tris = world_geometry(character)
            bvh = build_bvh(verts, tris)
        for view in views:
            rng = rng_for(job.seed, "camera", character.name, clip.name, view.id, frame)
            shot = plan_shot(view, box, frame, job.cameras, resolution, facing_deg, rng)
            place_shot(view, shot)
            drawn = {"camera": shot.drawn} if shot.drawn is not None else {}
            if scene_state is not None:
                scene_rng = rng_for(job.seed, "scene", character.name, clip.name, view.id, frame)
                drawn.update(randomize(scene_state, scene_rng, facing_deg))
            if appearance is not None:
                look_rng = rng_for(job.seed, "appearance", character.name, clip.name, view.id, frame)
                drawn["appearance"] = randomize_appearance(appearance, look_rng)
            occluder = None
            if occluders is not None:
                occluder_rng = rng_for(job.seed, "occluder", character.name, clip.name, view.id, frame)
                occluder = place_occluder(occluders, occluder_rng, shot.location, box.target_at(frame), shot.rotation)
                drawn["occluder"] = occluder
            relpath = image_relpath(character.name, clip.name, view.id, frame)
            if needs_render:
                render_image(view.camera, job.out_dir / relpath, extra_outputs)
            result["images"].append({"path": relpath, "clip": clip.name, "camera": view.id, "frame": frame})
            if rig is not None:
                camera = shot_camera(view, shot, job.cameras, resolution)
                keypoints = label_image(
                    landmarks, verts, bvh, shot.location, camera["K"], camera["R"], camera["t"], resolution
                )
                if occluder is not None and occluders is not None:
                    blocker = occluder_bvh(occluders)
                    if blocker is not None:
                        occluder["hiddenJoints"] = hide_behind(keypoints, landmarks, shot.location, blocker)
                world = [[round(c, 5) for c in p] for p in landmarks]
                coco.add(clip.name, view.id, frame, camera, keypoints, world, clip.source_name, drawn)
    result["seconds"]["render"] += time.perf_counter() - started

    lo, hi = box.world_bounds_at(frames[0]) if box.framing == "follow" else (box.min, box.max)
    result["clips"].append(
        {
            "name": clip.name,
            "displayName": clip.source_name,
            "frameRange": [clip.frame_start, clip.frame_end],
            "frames": frames,
            "bbox": {"min": [round(c, 5) for c in lo], "max": [round(c, 5) for c in hi]},
            "bboxEvaluations": box.evaluations,
            "bboxMode": box.mode,
            "facingDeg": facing_deg,
            **({"bboxFallback": box.fallback} if box.fallback else {}),
            **({"bboxPoses": box.poses} if box.poses else {}),
            **({"bboxWeights": box.weights} if box.weights else {}),
            "framing": box.framing,
            "cameras": cameras,
        }
    )
    log(f"{character.name}/{clip.name}: {len(frames)} frames x {len(views)} cameras")


def find_rig(character: Character, spec: CharacterSpec, job: Job, result: dict) -> RigMatch:
    """The character's rig profile (rigs.py), recorded in the manifest; an unknown rig fails
    the character with a message that says how to map it."""
    try:
        # rigs.assign names characters as the config does: the file name without extension
        match = detect_rig(character.armature, job.rigs, spec.display_name or spec.name, spec.name)
    except RigError as exc:
        raise CharacterError(f"{character.path.name}: {exc}") from exc
    result["rig"] = match.manifest()
    character.root_bone = match.joints.get("hips")
    log(f"{character.name}: rig profile {match.profile} (score {match.score:.2f})")
    return match


def render_character(spec: CharacterSpec, job: Job, manifest: ManifestWriter) -> dict:
    result: dict = {
        "name": spec.name,
        "displayName": spec.display_name or spec.name,
        "file": spec.file,
        "status": "ok",
        "seconds": {"import": 0.0, "bbox": 0.0, "cameras": 0.0, "render": 0.0},
        "clips": [],
        "images": [],
        "annotations": None,
        "warnings": [],
    }
    try:
        started = time.perf_counter()
        character = load_character(spec.name, resolve_file(job, spec))
        clips = list(select_clips(character, spec.clips))
        if job.animations is not None:
            known = len(character.clips)
            animations = apply_animations(character, job.animations)
            result["animations"] = [a.manifest() for a in animations]
            for a in animations:
                if a.status != "applied":
                    warn(f"{spec.name}: animation {a.file} not applied: {a.reason}")
            clips = clips + character.clips[known:]
        match = find_rig(character, spec, job, result)
        rig = build_rig(character, match.joints) if job.outputs.keypoints else None
        facing = find_facing(character, match.joints)
        result["facingDeg"] = facing.facing_deg
        for message in facing.warnings:
            warn(f"{spec.name}: {message}")
            result["warnings"].append(message)
        # The importers leave tens of thousands of new objects and their cyclic garbage behind:
        # Python's next full collection (20-50 ms on a Mixamo character) would land in whatever
        # runs next, most often the bounding box. Collect here, in the stage that made it.
        gc.collect()
        result["seconds"]["import"] = time.perf_counter() - started
        log(
            f"{spec.name}: imported {character.path.name} (clips: {', '.join(c.name for c in clips)}; "
            f"front at world azimuth {facing.facing_deg:g} deg)"
        )

        manifest.device = configure_render(job.render)
        scene_state = None
        if randomizes_world(job.scene):
            scene_state = setup_scene(job.scene)
        else:
            add_lights()
        appearance = None
        occluders = None
        if job.scene is not None and job.scene.appearance:
            appearance = prepare_appearance(character.meshes, job.scene.appearance)
            if appearance.skipped:
                log(f"{spec.name}: appearance: {appearance.skipped} materials without a Principled BSDF keep their colours")
        if job.scene is not None and job.scene.occluders:
            occluders = prepare_occluders(job.scene.occluders)
        if scene_state is not None or occluders is not None:
            mark_character(character.meshes)
        coco = CocoWriter(spec.name, *job.render.resolution, display_name=spec.display_name or spec.name)
        for clip in clips:
            render_clip(
                character,
                clip,
                job,
                rig,
                coco,
                result,
                facing.facing_deg,
                scene_state,
                appearance,
                occluders,
                match.joints,
            )
        if rig is not None:
            result["annotations"] = coco.write(job.out_dir, rig.approximated())
    except (CharacterError, RenderSetupError, SceneError) as exc:
        result.update(status="failed", error=str(exc))
        error(f"{spec.name}: {exc}")
    except Exception as exc:  # a bug or an odd file: record it, keep going with the others
        result.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        error(f"{spec.name}: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
    result["seconds"] = {k: round(v, 4) for k, v in result["seconds"].items()}
    seconds = ", ".join(f"{k} {v:.2f} s" for k, v in result["seconds"].items())
    log(f"{spec.name}: {result['status']}, {len(result['images'])} images ({seconds})")
    return result


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    job = load_job(args.job)
    manifest = ManifestWriter(out_dir=job.out_dir, run_id=job.run_id, blender_version=bpy.app.version_string)
    manifest.write()
    log(f"job {job.run_id}: {len(job.characters)} characters, Blender {bpy.app.version_string}")
    for spec in job.characters:
        manifest.add(render_character(spec, job, manifest))
    failed = [c["name"] for c in manifest.characters if c["status"] != "ok"]
    log(f"job {job.run_id}: {len(manifest.characters) - len(failed)} ok, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    entry.run(main)
