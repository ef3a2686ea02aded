"""job.json (written by src/render/job.ts, schema src/render/job.schema.ts) as typed objects."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class CharacterSpec:
    name: str
    file: str
    sha256: str
    clips: list[str] | None = None
    # As in the file name; `name` is its folder-safe slug (src/run/names.ts).
    display_name: str = ""


@dataclass
class CameraSpec:
    azimuths_deg: list[float]
    elevations_deg: list[float]
    lens_mm: float
    sensor_mm: float
    margin: float
    framing: str  # "follow" | "static"
    distance_m: float | None = None
    height_m: float | None = None
    # Per-image random changes: name -> (min, max); names as config cameras.jitter.
    jitter: dict[str, tuple[float, float]] = field(default_factory=dict)
    truncation: float = 0.0  # share of images whose camera may cut the body
    bbox: str = "fast"  # "fast" | "exact" (bbox.py)


@dataclass
class RenderSpec:
    engine: str
    device: str  # "auto" | "gpu" | "cpu"
    samples: int
    resolution: tuple[int, int]
    transparent: bool


@dataclass
class OutputSpec:
    rgb: bool = True
    mask: bool = False
    depth: bool = False
    normals: bool = False
    keypoints: bool = True


@dataclass
class SceneSpec:
    """config `scene`: what is drawn per image (seeded), see scene.py."""

    seed: int
    backgrounds: Path | None
    lights: dict[str, tuple[float, float]]
    appearance: dict[str, tuple[float, float]] | None = None
    occluders: dict[str, Any] | None = None


@dataclass
class Job:
    run_id: str
    characters: list[CharacterSpec]
    frames: dict[str, Any]  # {"step": n} or {"list": [offsets from the clip's first frame]}
    cameras: CameraSpec
    render: RenderSpec
    outputs: OutputSpec
    out_dir: Path
    base_dir: Path
    # Benchmark only: recompute the bounding box once per camera (the old behaviour).
    bbox_per_camera: bool = False
    # `rigs` of the config: {profiles: {name: {joint: bone or regex}}, assign: {character: profile}}
    rigs: dict[str, Any] = field(default_factory=dict)
    scene: SceneSpec | None = None
    # config `animations`: a folder of animation files applied to every character (retarget.py)
    animations: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def seed(self) -> int:
        return self.scene.seed if self.scene is not None else 0


def load_scene(raw: dict[str, Any] | None) -> SceneSpec | None:
    if raw is None:
        return None
    pairs = lambda d: {k: (float(v[0]), float(v[1])) for k, v in d.items()}  # noqa: E731
    return SceneSpec(
        seed=int(raw.get("seed", 0)),
        backgrounds=Path(raw["backgrounds"]) if raw.get("backgrounds") else None,
        lights=pairs(raw.get("lights") or {}),
        appearance=pairs(raw["appearance"]) if raw.get("appearance") else None,
        occluders=dict(raw["occluders"]) if raw.get("occluders") else None,
    )


def load_job(path: Path) -> Job:
    """Read job.json; relative paths in it are relative to the current directory (the job's cwd)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    if raw.get("version") != 1:
        raise ValueError(f"{path}: unsupported job version {raw.get('version')!r} (expected 1)")
    base_dir = Path.cwd()
    cams = raw["cameras"]
    render = raw["render"]
    out_dir = Path(raw["outDir"])
    scene = load_scene(raw.get("scene"))
    outputs = {k: bool(v) for k, v in raw.get("outputs", {}).items()}
    if scene is not None and (scene.lights or scene.backgrounds is not None or scene.occluders):
        # An opaque render, or objects in front: the person's mask must come from the ID pass.
        outputs["mask"] = True
    return Job(
        run_id=str(raw.get("runId", "")),
        characters=[
            CharacterSpec(
                name=c["name"],
                file=c["file"],
                sha256=c.get("sha256", ""),
                clips=c.get("clips"),
                display_name=c.get("displayName", ""),
            )
            for c in raw["characters"]
        ],
        frames=raw.get("frames", {"step": 10}),
        cameras=CameraSpec(
            azimuths_deg=[float(a) for a in cams["azimuthsDeg"]],
            elevations_deg=[float(e) for e in cams["elevationsDeg"]],
            lens_mm=float(cams["lensMm"]),
            sensor_mm=float(cams.get("sensorMm", 36.0)),
            margin=float(cams["margin"]),
            framing=cams.get("framing", "follow"),
            distance_m=cams.get("distanceM"),
            height_m=cams.get("heightM"),
            jitter={k: (float(v[0]), float(v[1])) for k, v in (cams.get("jitter") or {}).items()},
            truncation=float(cams.get("truncation", 0.0)),
            bbox=cams.get("bbox", "fast"),
        ),
        render=RenderSpec(
            engine=render.get("engine", "CYCLES"),
            device=render.get("device", "auto"),
            samples=int(render.get("samples", 32)),
            resolution=(int(render["resolution"][0]), int(render["resolution"][1])),
            transparent=bool(render.get("transparent", True)),
        ),
        outputs=OutputSpec(**outputs),
        out_dir=out_dir if out_dir.is_absolute() else base_dir / out_dir,
        base_dir=base_dir,
        bbox_per_camera=bool(raw.get("bench", {}).get("bboxPerCamera", False)),
        rigs=dict(raw.get("rigs") or {}),
        scene=scene,
        animations=Path(raw["animations"]) if raw.get("animations") else None,
    )


def resolve_file(job: Job, spec: CharacterSpec) -> Path:
    file = Path(spec.file)
    return file if file.is_absolute() else job.base_dir / file


def select_frames(frames: dict[str, Any], start: int, end: int) -> list[int]:
    """Frames to render in [start, end]: every `step`-th from start, or start + each listed offset."""
    if "list" in frames:
        return sorted({start + int(o) for o in frames["list"] if start + int(o) <= end})
    step = max(1, int(frames.get("step", 10)))
    return list(range(start, end + 1, step))
