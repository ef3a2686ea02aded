"""Output paths, annotations.json (COCO keypoints + extras) and manifest.json.

Layout (DESIGN.md), relative to the job's outDir:
    renders/<character>/<clip>/<view>/f<frame:04d>.png
    renders/<character>/annotations.json
    manifest.json
annotations.json is valid COCO keypoints (images, annotations, categories) with
posefactory's extras: per image `clip` (the folder-safe name), `clip_name` (as in the file), `view`, `frame` and its
`camera` {K, R, t}; per
annotation `keypoints_mediapipe` (33 x [x, y, v]) and `keypoints_3d` (33 x [X, Y, Z] world
metres); `mediapipe_landmarks`, `character` (folder-safe) and `character_name` (as in the file) at
the top. Schema: src/detect/schema.ts.
manifest.json is rewritten after every character (atomically), so a crash mid-job still
leaves the finished characters on record. Schema: src/render/manifest.ts.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .keypoints import ImageKeypoints
from .landmarks import COCO_KEYPOINTS, COCO_SKELETON, MEDIAPIPE_LANDMARKS


def image_relpath(character: str, clip: str, view: str, frame: int) -> str:
    return f"renders/{character}/{clip}/{view}/f{frame:04d}.png"


def write_json(path: Path, value: Any) -> None:
    """Write atomically: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=1, allow_nan=False), encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class CocoWriter:
    """Collects one character's images and annotations."""

    character: str
    width: int
    height: int
    # The character's name as in its file (`character` is its folder-safe name).
    display_name: str = ""
    images: list[dict] = field(default_factory=list)
    annotations: list[dict] = field(default_factory=list)

    def add(
        self,
        clip: str,
        view: str,
        frame: int,
        camera: dict,
        keypoints: ImageKeypoints,
        world: list[list[float]],
        clip_name: str = "",
        scene: dict | None = None,
    ) -> None:
        image_id = len(self.images) + 1
        extra = {"scene": scene} if scene else {}  # what was drawn for this image (seeded)
        self.images.append(
            {
                **extra,
                "id": image_id,
                "file_name": f"{clip}/{view}/f{frame:04d}.png",
                "width": self.width,
                "height": self.height,
                "clip": clip,
                "clip_name": clip_name or clip,
                "view": view,
                "frame": frame,
                "camera": camera,
            }
        )
        self.annotations.append(
            {
                "id": image_id,
                "image_id": image_id,
                "category_id": 1,
                "iscrowd": 0,
                "keypoints": keypoints.coco,
                "num_keypoints": keypoints.num_keypoints,
                "bbox": keypoints.bbox,
                "area": keypoints.area,
                "keypoints_mediapipe": keypoints.mediapipe,
                "keypoints_3d": world,
            }
        )

    def document(self, approximated: list[str]) -> dict:
        return {
            "info": {
                "description": f"posefactory ground truth for {self.character}",
                "version": "1",
                "approximated_landmarks": approximated,
            },
            "licenses": [],
            "categories": [
                {
                    "id": 1,
                    "name": "person",
                    "supercategory": "person",
                    "keypoints": COCO_KEYPOINTS,
                    "skeleton": COCO_SKELETON,
                }
            ],
            "images": self.images,
            "annotations": self.annotations,
            "mediapipe_landmarks": MEDIAPIPE_LANDMARKS,
            "character": self.character,
            "character_name": self.display_name or self.character,
        }

    def write(self, out_dir: Path, approximated: list[str]) -> str:
        relpath = f"renders/{self.character}/annotations.json"
        write_json(out_dir / relpath, self.document(approximated))
        return relpath


@dataclass
class ManifestWriter:
    out_dir: Path
    run_id: str
    blender_version: str
    device: dict = field(default_factory=lambda: {"type": "CPU", "names": ["CPU"]})
    characters: list[dict] = field(default_factory=list)

    def add(self, result: dict) -> None:
        self.characters.append(result)
        self.write()

    def write(self) -> Path:
        path = self.out_dir / "manifest.json"
        write_json(
            path,
            {
                "version": 1,
                "runId": self.run_id,
                "blenderVersion": self.blender_version,
                "device": self.device,
                "characters": self.characters,
            },
        )
        return path
