"""blender/render.py with one render setting forced, for test/gpu/render-bench.sh.

    blender -b --factory-startup --python-exit-code 2 -P bench_render.py -- --job job.json
    python bench_render.py -- --job job.json            (bpy wheel)

Environment (each optional; unset keeps render.py's choice):
    PF_BENCH_BACKEND      OPTIX | CUDA: the only GPU backend tried (device "gpu" then fails
                          loudly when it has no device)
    PF_BENCH_PERSISTENT   1 | 0  scene.render.use_persistent_data
    PF_BENCH_ADAPTIVE     1 | 0  scene.cycles.use_adaptive_sampling
    PF_BENCH_DENOISE      1 | 0  scene.cycles.use_denoising (1 fails when the build has no
                          denoiser for the device)
The manifest records what ran: its device, and `bench` with the settings actually applied.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

BLENDER_DIR = Path(os.environ.get("PF_BENCH_BLENDER_DIR", Path(__file__).resolve().parents[2] / "blender"))
sys.path.insert(0, str(BLENDER_DIR))

import bpy  # noqa: E402
import posefactory_bpy.render as settings  # noqa: E402
from posefactory_bpy import entry  # noqa: E402

spec = importlib.util.spec_from_file_location("pf_render", BLENDER_DIR / "render.py")
assert spec is not None and spec.loader is not None
render = importlib.util.module_from_spec(spec)
spec.loader.exec_module(render)

applied: dict[str, object] = {}
backend = os.environ.get("PF_BENCH_BACKEND")
if backend:
    settings.GPU_BACKENDS[:] = [backend]  # enable_gpu() reads this list
original = render.configure_render


def flag(name: str) -> bool | None:
    value = os.environ.get(name)
    return None if value in (None, "") else value == "1"


def configure_render(spec_):  # noqa: ANN001, ANN202 - same signature as render.configure_render
    device = original(spec_)
    scene = bpy.context.scene
    persistent, adaptive, denoise = flag("PF_BENCH_PERSISTENT"), flag("PF_BENCH_ADAPTIVE"), flag("PF_BENCH_DENOISE")
    if persistent is not None:
        scene.render.use_persistent_data = persistent
    if scene.render.engine == "CYCLES":
        if adaptive is not None:
            scene.cycles.use_adaptive_sampling = adaptive
        if denoise is not None:
            if denoise and settings.has_denoiser(device["type"]) is None:
                raise settings.RenderSetupError(f"no denoiser for {device['type']} in this Blender build")
            scene.cycles.use_denoising = denoise
        applied.update(adaptive=scene.cycles.use_adaptive_sampling, denoise=scene.cycles.use_denoising)
    applied.update(engine=scene.render.engine, persistent=scene.render.use_persistent_data, device=device)
    return device


render.configure_render = configure_render

def main(argv: list[str]) -> int:
    code = render.main(argv)
    job = json.loads(Path(render.parse_args(argv).job).read_text(encoding="utf-8"))
    manifest_path = Path(job["outDir"]) / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        manifest["bench"] = applied
        manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    return code


if __name__ == "__main__":
    entry.run(main)
