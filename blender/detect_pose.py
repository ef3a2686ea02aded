"""Pose detection on the render host: MediaPipe's Tasks API PoseLandmarker over a run's renders.

Run with plain python3 (not inside Blender):

    python3 detect_pose.py --run-dir /workspace/posefactory/runs/<runId> --model full \
        [--model-path pose_landmarker_full.task] [--also lite --also heavy] [--delegate gpu] \
        [--images list.txt] [--force] [--workers N]

Throughput: a pool of worker processes, each with its own landmarker (IMAGE mode, so every
image is detected on its own and the results are the same as with one landmarker), sized to
the CPUs this process may use (--workers, or POSEFACTORY_DETECT_WORKERS; 1 = in this process). Each image
renders/<character>/<clip>/<view>/fNNNN.png gets detections/<character>/<clip>/<view>/fNNNN.json,
the same JSON as the web backend (src/detect/schema.ts `detectionSchema`), with backend "python".
Each `--also` model (config detect.models) then detects the same images into
detections-<model>/ (same layout), with its default model file (setup-pod's, else the cache),
as the web backend does, so evaluation compares the models on the same images.
Transparent renders are flattened over mid-grey first, as the web backend does.

Exit codes: 0 done, 1 some images failed, 2 bad arguments, 3 mediapipe missing or unusable.
`--fake-landmarker` swaps MediaPipe for a deterministic stand-in so the batching and writing
can be tested where mediapipe is not installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import struct
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

RENDER_NAME = re.compile(r"^f\d+\.(png|jpe?g)$", re.IGNORECASE)
NUM_LANDMARKS = 33
EXIT_FAILED = 1
EXIT_NO_MEDIAPIPE = 3
BACKGROUND = 128  # mid-grey behind transparent pixels

MISSING_MEDIAPIPE = (
    "mediapipe is not installed for {python}: run `posefactory setup-pod` to install it on this host "
    "(or `{python} -m pip install mediapipe`)."
)


def log(message: str) -> None:
    print(f"detect_pose: {message}", file=sys.stderr, flush=True)


def default_model_path(model: str) -> Path:
    """Where `posefactory setup-pod` installs the model (setup_pod.sh's PF_PREFIX/models), else
    the cache layout the CLI uses (src/detect/model.ts): ~/.cache/posefactory/models/official."""
    name = f"pose_landmarker_{model}.task"
    base = os.environ.get("POSEFACTORY_CACHE_DIR")
    root = Path(base) if base else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "posefactory"
    cache = root / "models" / "official" / name
    for prefix in (os.environ.get("PF_PREFIX"), "/workspace/posefactory-tools", "/opt/posefactory"):
        if prefix and (Path(prefix) / "models" / name).is_file():
            return Path(prefix) / "models" / name
    return cache


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="detect_pose.py", description="MediaPipe pose detection over a run's renders")
    parser.add_argument("--run-dir", required=True, type=Path, help="run folder holding renders/")
    parser.add_argument("--model", choices=["lite", "full", "heavy"], default="full")
    parser.add_argument("--model-path", type=Path, help="pose_landmarker .task (default: the CLI's model cache)")
    parser.add_argument("--model-version", default="official/float16/1", help="recorded in each detection")
    parser.add_argument(
        "--also",
        action="append",
        choices=["lite", "full", "heavy"],
        default=[],
        metavar="MODEL",
        help="a further model (detect.models), into detections-<MODEL>/ with its default model file",
    )
    parser.add_argument("--delegate", choices=["cpu", "gpu"], default="cpu", help="gpu falls back to cpu when unavailable")
    parser.add_argument("--min-pose-detection-confidence", type=float, default=0.5)
    parser.add_argument("--min-pose-presence-confidence", type=float, default=0.5)
    parser.add_argument("--images", type=Path, help="file with one image path (relative to --run-dir) per line")
    parser.add_argument("--batch-size", type=int, default=64, help="images between progress lines")
    parser.add_argument("--force", action="store_true", help="detect again images already done with this model")
    parser.add_argument("--summary", type=Path, help="write a JSON summary of the batch here")
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("POSEFACTORY_DETECT_WORKERS", "0") or 0),
        help="landmarker processes (default: one per CPU; 1 = no pool)",
    )
    parser.add_argument("--fake-landmarker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("min_pose_detection_confidence", "min_pose_presence_confidence"):
        value = getattr(args, name)
        if not 0.0 <= value <= 1.0:
            parser.error(f"--{name.replace('_', '-')} must be between 0 and 1, got {value}")
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    if args.workers < 0:
        parser.error(f"--workers must be 0 (one per CPU) or more, got {args.workers}")
    if not args.run_dir.is_dir():
        parser.error(f"--run-dir {args.run_dir} is not a folder")
    return args


def list_images(run_dir: Path, images_file: Path | None) -> list[str]:
    """Relative image paths: the --images list, else every renders/**/fNNNN.png, sorted."""
    if images_file is not None:
        lines = [line.strip() for line in images_file.read_text().splitlines()]
        return [line for line in lines if line and not line.startswith("#")]
    found = []
    for path in (run_dir / "renders").rglob("*"):
        if path.is_file() and RENDER_NAME.match(path.name):
            found.append(path.relative_to(run_dir).as_posix())
    return sorted(found)


def batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def detection_path(image: str, root: str = "detections") -> str:
    """renders/<c>/<clip>/<view>/f0001.png -> <root>/<c>/<clip>/<view>/f0001.json"""
    rel = re.sub(r"^renders/", f"{root}/", image)
    return re.sub(r"\.[^./]+$", ".json", rel)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, without an image library."""
    with path.open("rb") as handle:
        header = handle.read(24)
    if len(header) < 24 or header[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def landmark_json(point: Any, width: int, height: int, pixels: bool) -> dict[str, float]:
    visibility = float(getattr(point, "visibility", None) or 0.0)
    presence = getattr(point, "presence", None)
    out = {"x": float(point.x), "y": float(point.y), "z": float(point.z)}
    if pixels:
        out["px"] = float(point.x) * width
        out["py"] = float(point.y) * height
    out["visibility"] = visibility
    # Models without a presence output leave it unset: visibility is the closest stand-in.
    out["presence"] = float(presence) if presence is not None else visibility
    return out


def build_detection(image: str, width: int, height: int, result: Any, model: dict[str, str], seconds: float) -> dict[str, Any]:
    """The detection JSON (schema.ts detectionSchema) from a PoseLandmarkerResult-like object."""
    poses = []
    world = list(getattr(result, "pose_world_landmarks", None) or [])
    for i, landmarks in enumerate(getattr(result, "pose_landmarks", None) or []):
        world_landmarks = world[i] if i < len(world) else []
        if len(landmarks) != NUM_LANDMARKS or len(world_landmarks) != NUM_LANDMARKS:
            continue
        poses.append(
            {
                "landmarks": [landmark_json(p, width, height, True) for p in landmarks],
                "worldLandmarks": [landmark_json(p, width, height, False) for p in world_landmarks],
            }
        )
    return {
        "version": 1,
        "image": image,
        "width": width,
        "height": height,
        "backend": "python",
        "model": model,
        "found": len(poses) > 0,
        "poses": poses,
        "seconds": max(0.0, seconds),
    }


def write_json(path: Path, value: dict[str, Any]) -> None:
    """Temp file + rename: a killed run never leaves half a JSON behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(json.dumps(value, allow_nan=False) + "\n")
    os.replace(temp, path)


def already_done(path: Path, sha256: str) -> bool:
    try:
        previous = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return previous.get("version") == 1 and previous.get("model", {}).get("sha256") == sha256


class FakeLandmarker:
    """Deterministic stand-in for tests: a standing figure, or no pose for paths containing 'empty'."""

    class _Point:
        def __init__(self, x: float, y: float, z: float, visibility: float, presence: float | None) -> None:
            self.x, self.y, self.z, self.visibility, self.presence = x, y, z, visibility, presence

    class _Result:
        def __init__(self, landmarks: list, world: list) -> None:
            self.pose_landmarks = landmarks
            self.pose_world_landmarks = world

    def detect_file(self, path: Path) -> tuple[Any, int, int]:
        width, height = png_size(path)
        if "empty" in path.as_posix():
            return self._Result([], []), width, height
        points = []
        world = []
        for i in range(NUM_LANDMARKS):
            x = 0.3 + 0.4 * (i % 11) / 10
            y = 0.1 + 0.8 * (i // 11) / 2
            points.append(self._Point(x, y, -0.1 * math.sin(i), 0.9, None if i == 0 else 0.95))
            world.append(self._Point(x - 0.5, 0.5 - y, 0.0, 0.9, 0.95))
        return self._Result([points], [world]), width, height

    def close(self) -> None:
        pass


class MediaPipeLandmarker:
    """One Tasks API PoseLandmarker in IMAGE mode; GPU delegate when asked and it works."""

    def __init__(self, model_path: Path, delegate: str, min_detection: float, min_presence: float) -> None:
        import mediapipe as mp  # noqa: F401  (imported here so the fake path needs none)
        from mediapipe.tasks.python import BaseOptions, vision

        self.mp = mp
        self.np = __import__("numpy")

        def create(use_gpu: bool) -> Any:
            base = BaseOptions(
                model_asset_path=str(model_path),
                delegate=BaseOptions.Delegate.GPU if use_gpu else BaseOptions.Delegate.CPU,
            )
            options = vision.PoseLandmarkerOptions(
                base_options=base,
                running_mode=vision.RunningMode.IMAGE,
                num_poses=1,
                min_pose_detection_confidence=min_detection,
                min_pose_presence_confidence=min_presence,
            )
            return vision.PoseLandmarker.create_from_options(options)

        self.delegate = "cpu"
        if delegate == "gpu":
            try:
                self.landmarker = create(True)
                self.delegate = "gpu"
            except Exception as error:  # noqa: BLE001 (any GPU setup failure means: use the CPU)
                log(f"GPU delegate unavailable ({error}); using the CPU")
                self.landmarker = create(False)
        else:
            self.landmarker = create(False)

    def detect_file(self, path: Path) -> tuple[Any, int, int]:
        mp, np = self.mp, self.np
        image = mp.Image.create_from_file(str(path))
        pixels = image.numpy_view()
        if pixels.ndim == 3 and pixels.shape[2] == 4:
            alpha = pixels[:, :, 3:4].astype(np.float32) / 255.0
            rgb = pixels[:, :, :3].astype(np.float32) * alpha + BACKGROUND * (1.0 - alpha)
            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb.round().astype(np.uint8)))
        elif pixels.ndim == 2 or pixels.shape[2] == 1:
            gray = pixels.reshape(pixels.shape[0], pixels.shape[1])
            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(np.stack([gray] * 3, axis=-1)))
        return self.landmarker.detect(image), image.width, image.height

    def close(self) -> None:
        self.landmarker.close()


def open_landmarker(args: argparse.Namespace, model_path: Path) -> Any:
    if args.fake_landmarker:
        return FakeLandmarker()
    try:
        import mediapipe  # noqa: F401
    except ImportError:
        log(MISSING_MEDIAPIPE.format(python=sys.executable or "python3"))
        sys.exit(EXIT_NO_MEDIAPIPE)
    return MediaPipeLandmarker(
        model_path, args.delegate, args.min_pose_detection_confidence, args.min_pose_presence_confidence
    )


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the CPUs this process may run on (containers, taskset)
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def worker_count(requested: int, images: int) -> int:
    """--workers, or one per CPU; never more workers than images."""
    return max(1, min(requested or available_cpus(), images))


def detect_one(landmarker: Any, run_dir: Path, image: str, model: dict[str, str], root: str) -> tuple[str, bool, str | None]:
    """Detect one image and write its JSON under `root`; (image, found, error)."""
    try:
        t0 = time.perf_counter()
        result, width, height = landmarker.detect_file(run_dir / image)
        detection = build_detection(image, width, height, result, model, time.perf_counter() - t0)
        write_json(run_dir / detection_path(image, root), detection)
        return image, bool(detection["found"]), None
    except Exception as error:  # noqa: BLE001 (one bad image must not stop the batch)
        return image, False, str(error)


# Per worker process: its own landmarker (a landmarker is not shared between processes).
_worker: dict[str, Any] = {}


def init_worker(args: argparse.Namespace, model_path: Path, model: dict[str, str], root: str) -> None:
    # An exception here would make the pool start the worker again and again: keep it instead.
    try:
        _worker.update(landmarker=open_landmarker(args, model_path), run_dir=args.run_dir, model=model, root=root)
    except Exception as error:  # noqa: BLE001
        _worker["error"] = f"{type(error).__name__}: {error}"


def detect_in_worker(image: str) -> tuple[str, bool, str | None]:
    if "error" in _worker:
        return image, False, f"no landmarker: {_worker['error']}"
    return detect_one(_worker["landmarker"], _worker["run_dir"], image, _worker["model"], _worker["root"])


def worker_delegate(_: int) -> str:
    if "error" in _worker:
        raise RuntimeError(f"cannot open the landmarker: {_worker['error']}")
    return str(getattr(_worker.get("landmarker"), "delegate", "fake"))


def detect_all(
    args: argparse.Namespace, model_path: Path, model: dict[str, str], root: str, todo: list[str]
) -> Iterator[tuple[str, bool, str | None] | str]:
    """Yields the delegate first, then (image, found, error) per image as they finish."""
    workers = worker_count(args.workers, len(todo))
    if workers == 1:
        landmarker = open_landmarker(args, model_path)
        try:
            yield str(getattr(landmarker, "delegate", "fake"))
            for image in todo:
                yield detect_one(landmarker, args.run_dir, image, model, root)
        finally:
            landmarker.close()
        return
    import multiprocessing

    # spawn: a fresh interpreter per worker (forking a process that runs threads is unsafe).
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=init_worker, initargs=(args, model_path, model, root)) as pool:
        yield pool.map(worker_delegate, [0])[0]
        # Small chunks keep every worker busy to the end; order does not matter (one file each).
        chunk = max(1, min(8, len(todo) // (workers * 4)))
        yield from pool.imap_unordered(detect_in_worker, todo, chunksize=chunk)
        pool.close()
        pool.join()


def detect_with_model(args: argparse.Namespace, variant: str, model_path_arg: Path | None, root: str) -> tuple[int, dict[str, Any]]:
    """One model over the run's images into `root`/; (exit code, summary)."""
    run_dir: Path = args.run_dir
    model_name = f"pose_landmarker_{variant}"
    summary: dict[str, Any] = {
        "images": 0, "detected": 0, "found": 0, "skipped": 0, "failed": [], "model": {},
        "delegate": "none", "workers": 0, "seconds": {"load": 0.0, "detect": 0.0},
    }  # fmt: skip
    if args.fake_landmarker:
        model = {"name": "fake", "version": "test", "sha256": "0" * 64}
        model_path = Path("fake")
    else:
        model_path = model_path_arg or default_model_path(variant)
        if not model_path.is_file():
            log(f"model {model_path} not found: run `posefactory setup-pod`, or pass --model-path")
            return EXIT_NO_MEDIAPIPE, summary
        model = {"name": model_path.stem or model_name, "version": args.model_version, "sha256": sha256_file(model_path)}
    summary["model"] = model

    images = list_images(run_dir, args.images)
    todo = [i for i in images if args.force or not already_done(run_dir / detection_path(i, root), model["sha256"])]
    skipped = len(images) - len(todo)
    summary.update(images=len(images), skipped=skipped)
    if todo and not args.fake_landmarker:
        try:
            import mediapipe  # noqa: F401  (checked here once, not in every worker)
        except ImportError:
            log(MISSING_MEDIAPIPE.format(python=sys.executable or "python3"))
            return EXIT_NO_MEDIAPIPE, summary
    if todo:
        started = time.perf_counter()
        summary["workers"] = worker_count(args.workers, len(todo))
        results = detect_all(args, model_path, model, root, todo)
        try:
            summary["delegate"] = next(results)
        except RuntimeError as error:
            log(str(error))
            return EXIT_NO_MEDIAPIPE, summary
        summary["seconds"]["load"] = time.perf_counter() - started
        log(
            f"{len(todo)} images to detect ({skipped} already done), model {model['name']}, "
            f"delegate {summary['delegate']}, {summary['workers']} worker(s), into {root}/"
        )
        detect_started = time.perf_counter()
        total_batches = math.ceil(len(todo) / args.batch_size)
        done = 0
        for image, found, error in results:  # type: ignore[misc]
            done += 1
            if error is None:
                summary["detected"] += 1
                summary["found"] += 1 if found else 0
            else:
                log(f"{image}: {error}")
                summary["failed"].append({"image": image, "error": error})
            if done % args.batch_size == 0 or done == len(todo):
                log(f"batch {math.ceil(done / args.batch_size)}/{total_batches}: {done} of {len(todo)} images done")
        summary["seconds"]["detect"] = time.perf_counter() - detect_started
        summary["failed"].sort(key=lambda f: f["image"])
    else:
        log(f"all {len(images)} images already detected with this model into {root}/ (use --force to redo)")
    return (EXIT_FAILED if summary["failed"] else 0), summary


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    code, summary = detect_with_model(args, args.model, args.model_path, "detections")
    # The further models of detect.models, each into its own folder (detect.model is detections/).
    others = []
    for variant in dict.fromkeys(v for v in args.also if v != args.model):
        if code == EXIT_NO_MEDIAPIPE:
            break
        root = f"detections-{variant}"
        other_code, other = detect_with_model(args, variant, None, root)
        others.append({"variant": variant, "detections": root, **other})
        code = max(code, other_code)
    if others:
        summary["others"] = others
    if args.summary:
        write_json(args.summary, summary)
    return code


if __name__ == "__main__":
    sys.exit(main())
