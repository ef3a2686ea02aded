#!/usr/bin/env bash
# GPU render settings, measured: seconds per image for each setting, and the share of import,
# bbox, cameras and render in a character's time (from manifest.json's seconds).
#
#   test/gpu/render-bench.sh                    on a machine with an NVIDIA GPU
#   test/gpu/render-bench.sh --cpu              check the script itself on a CPU-only machine
#                                               (tiny images, CPU settings only)
#
# Blender: $BLENDER (a blender binary; default `blender`), or $BPY_PYTHON (the python of a venv
# with the `bpy` wheel, e.g. blender/requirements.txt's): then Blender runs as a Python module.
# Characters: the sample walker and a realistic-size generated one (about 24k skinned
# vertices; test/helpers/make_dense_character.py), made once into $WORK (default: a temp
# folder, removed at the end unless $KEEP=1). Each setting renders both at 512x512, 8 views x
# $FRAMES frames (default 4), $SAMPLES samples (default 64), with Cycles on OPTIX and on CUDA
# (persistent data, adaptive sampling and the denoiser each switched off once) and EEVEE
# (it needs a GL context: where it cannot start headless the row says failed; where it starts,
# look at one image under $WORK/runs/eevee with KEEP=1, it may render black).
# Exit: 0 measured (or no NVIDIA GPU: nothing to measure, said so), 1 a setting failed.
set -u

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mode=gpu
if [ "${1:-}" = "--cpu" ]; then mode=cpu; fi
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit 0
fi

if [ "$mode" = gpu ] && ! nvidia-smi -L >/dev/null 2>&1; then
  echo "render-bench: no NVIDIA GPU here (nvidia-smi finds none): nothing measured."
  echo "render-bench: run it on a GPU pod, or with --cpu to check the script on this machine."
  exit 0
fi

work=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/pf-gpu-bench-XXXXXX")}
mkdir -p "$work"
if [ -z "${WORK:-}" ] && [ "${KEEP:-0}" != 1 ]; then trap 'rm -rf "$work"' EXIT; fi

# Run a Blender script with its arguments, under either launcher.
blender_run() {
  local script=$1
  shift
  if [ -n "${BPY_PYTHON:-}" ]; then
    "$BPY_PYTHON" "$script" -- "$@"
  else
    "${BLENDER:-blender}" --background --factory-startup --python-exit-code 2 --python "$script" -- "$@"
  fi
}

if [ "$mode" = gpu ]; then
  resolution=512 samples=${SAMPLES:-64} frames=${FRAMES:-4} dense_frames=600 segments=30
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/render-bench: GPU /'
else
  resolution=96 samples=${SAMPLES:-4} frames=${FRAMES:-1} dense_frames=40 segments=12
fi

echo "render-bench: making the characters in $work"
if [ ! -f "$work/sample-walker.fbx" ]; then
  blender_run "$root/blender/make_sample_character.py" --out "$work/sample-walker.fbx" >"$work/make-sample.log" 2>&1 ||
    { echo "render-bench: making the sample failed (see $work/make-sample.log)"; exit 1; }
fi
if [ ! -f "$work/dense.fbx" ]; then
  blender_run "$root/test/helpers/make_dense_character.py" --out "$work/dense.fbx" \
    --frames "$dense_frames" --segments "$segments" >"$work/make-dense.log" 2>&1 ||
    { echo "render-bench: making the dense character failed (see $work/make-dense.log)"; exit 1; }
fi

# name engine device backend persistent adaptive denoise
if [ "$mode" = gpu ]; then
  settings="optix CYCLES gpu OPTIX 1 1 1
optix-no-persistent CYCLES gpu OPTIX 0 1 1
optix-no-adaptive CYCLES gpu OPTIX 1 0 1
optix-no-denoise CYCLES gpu OPTIX 1 1 0
cuda CYCLES gpu CUDA 1 1 1
cuda-no-persistent CYCLES gpu CUDA 0 1 1
cuda-no-adaptive CYCLES gpu CUDA 1 0 1
cuda-no-denoise CYCLES gpu CUDA 1 1 0
eevee BLENDER_EEVEE_NEXT gpu - 1 - -"
else
  settings="cpu CYCLES cpu - 1 1 0
cpu-no-persistent CYCLES cpu - 0 1 0
cpu-no-adaptive CYCLES cpu - 1 0 0"
fi

frame_list=$(seq -s, 0 $((frames > 1 ? 60 : 1)) $((frames > 1 ? 60 * (frames - 1) : 0)))
failed=0
while read -r name engine device backend persistent adaptive denoise; do
  out="$work/runs/$name"
  rm -rf "$out"
  mkdir -p "$out"
  cat >"$out/job.json" <<JSON
{"version": 1, "runId": "gpu-bench-$name",
 "characters": [{"name": "sample", "file": "$work/sample-walker.fbx", "sha256": "-"},
                {"name": "dense", "file": "$work/dense.fbx", "sha256": "-"}],
 "frames": {"list": [$frame_list]},
 "cameras": {"azimuthsDeg": [0, 45, 90, 135, 180, 225, 270, 315], "elevationsDeg": [10],
             "lensMm": 50, "sensorMm": 36, "margin": 0.05, "framing": "follow", "bbox": "fast"},
 "render": {"engine": "$engine", "device": "$device", "samples": $samples,
            "resolution": [$resolution, $resolution], "transparent": true},
 "outputs": {"rgb": true, "mask": false, "depth": false, "normals": false, "keypoints": false},
 "outDir": "$out"}
JSON
  env_args=()
  [ "$backend" != - ] && env_args+=("PF_BENCH_BACKEND=$backend")
  [ "$persistent" != - ] && env_args+=("PF_BENCH_PERSISTENT=$persistent")
  [ "$adaptive" != - ] && env_args+=("PF_BENCH_ADAPTIVE=$adaptive")
  [ "$denoise" != - ] && env_args+=("PF_BENCH_DENOISE=$denoise")
  started=$(date +%s%N)
  # A fresh OptiX cache per run of this script: a stale one is a known 10x slowdown.
  if (cd "$out" && export OPTIX_CACHE_PATH="$work/optix-cache" "${env_args[@]}" &&
    blender_run "$root/test/gpu/bench_render.py" --job job.json >"$out/blender.log" 2>&1); then
    status=ok
  else
    status="failed(exit-$?,see-$out/blender.log)"
    failed=1
  fi
  ended=$(date +%s%N)
  echo "$name $status $(((ended - started) / 1000000))" >>"$work/status.txt"
done <<<"$settings"

python3 - "$work" <<'PY'
import json, sys
from pathlib import Path

work = Path(sys.argv[1])
status = {}
for line in (work / "status.txt").read_text().splitlines():
    name, state, ms = line.split()
    status[name] = [state, str(int(ms) / 1000)]
print()
print(f"{'setting':<20} {'device':<24} {'character':<8} {'images':>6} {'s/image':>8} {'import':>7} {'bbox':>6} {'cameras':>7} {'render':>7}  process")
for run in sorted((work / "runs").iterdir(), key=lambda p: list(status).index(p.name) if p.name in status else 99):
    state, wall = status.get(run.name, ["?", "0"])
    manifest_path = run / "manifest.json"
    if not manifest_path.is_file():
        print(f"{run.name:<20} {state}")
        continue
    manifest = json.loads(manifest_path.read_text())
    device = manifest.get("device", {})
    label = f"{device.get('type', '?')} {','.join(device.get('names', []))}"[:24]
    for character in manifest["characters"]:
        s = character["seconds"]
        total = sum(s.values()) or 1.0
        images = len(character["images"])
        if character["status"] != "ok":
            print(f"{run.name:<20} {label:<24} {character['name']:<8} failed: {character.get('error', '')[:60]}")
            continue
        per_image = s["render"] / images if images else float("nan")
        shares = " ".join(f"{100 * s[k] / total:>6.1f}%" for k in ("import", "bbox", "cameras", "render"))
        print(f"{run.name:<20} {label:<24} {character['name']:<8} {images:>6} {per_image:>8.3f} {shares}  {float(wall):.1f} s, {state}")
print()
print("s/image: the render stage's seconds (images + keypoints) per image; shares: of the character's seconds.")
PY
exit "$failed"
