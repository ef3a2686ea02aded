# shellcheck shell=bash
# shellcheck disable=SC2034 # PF_* variables are read by the functions of lib.sh
# What a run needs on its render host, in one round trip (sent on stdin after lib.sh and
# group.sh). Prints `key: value` lines; the CLI (src/pipeline/preflight.ts) decides what is
# missing and how to fix it. Settings:
#   PF_BLENDER_VERSION_COMMAND  prints "Blender X.Y.Z ..." (quoted words)
#   PF_DETECT=1                 detection runs here: PF_PYTHON, PF_MODEL, PF_MODEL_PATH,
#                               PF_OTHER_MODELS (detect.models besides detect.model, spaces)
#   PF_GPU=1                    list NVIDIA GPUs
#   PF_RCLONE=1                 rclone is needed (pull and push)
#   PF_WORKDIR                  where the run folder goes (free disk is measured there)
set +e

# The default `blender` on a host with only setup-pod's bpy: the job renders with that (lib.sh).
if [ "$PF_BLENDER_VERSION_COMMAND" = "blender --version 2>/dev/null" ] && py=$(pf_bpy_python); then
  PF_BLENDER_VERSION_COMMAND="$(printf '%q' "$py") -c 'import bpy; print(\"Blender \" + bpy.app.version_string)'"
fi
echo "blender: $(eval "$PF_BLENDER_VERSION_COMMAND" 2>/dev/null | sed -n 's/^Blender \([0-9][0-9.]*\).*/\1/p' | head -n 1)"

if [ "${PF_DETECT:-0}" = 1 ]; then
  py=$(pf_find_python "$PF_PYTHON")
  echo "python: $py"
  echo "python_version: $("$py" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null | head -n 1)"
  echo "mediapipe: $("$py" -c 'import mediapipe; print(getattr(mediapipe, "__version__", "unknown"))' 2>/dev/null | head -n 1)"
  # The same places detect_pose.py looks (default_model_path), in the same order; detect.model
  # (or detect.modelPath), then each further model of detect.models (PF_OTHER_MODELS).
  pf_pose_model() {
    local name="pose_landmarker_$1.task" prefix
    for prefix in "${PF_PREFIX:-}" /workspace/posefactory-tools /opt/posefactory; do
      if [ -n "$prefix" ] && [ -f "$prefix/models/$name" ]; then
        echo "$prefix/models/$name"
        return
      fi
    done
    echo "${POSEFACTORY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/posefactory}/models/official/$name"
  }
  pf_model_line() { if [ -f "$1" ]; then echo "model: $1"; else echo "model_missing: $1"; fi; }
  if [ -n "${PF_MODEL_PATH:-}" ]; then model=$PF_MODEL_PATH; else model=$(pf_pose_model "$PF_MODEL"); fi
  pf_model_line "$model"
  for other in ${PF_OTHER_MODELS:-}; do pf_model_line "$(pf_pose_model "$other")"; done
fi

if [ "${PF_GPU:-0}" = 1 ] && command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null |
    sed -n 's/^ *\([^,][^,]*\), *\([^,]*\), *\([^,]*\) *$/gpu: \1 (\2, driver \3)/p'
fi

if [ "${PF_RCLONE:-0}" = 1 ]; then
  echo "rclone: $(rclone version 2>/dev/null | sed -n 's/^rclone v\{0,1\}\([0-9][^ ]*\).*/\1/p' | head -n 1)"
fi

# Free space where the run folder will be: its nearest folder that exists.
dir=$PF_WORKDIR
while [ ! -d "$dir" ] && [ "$dir" != / ] && [ "$dir" != . ]; do dir=$(dirname "$dir"); done
echo "disk_dir: $dir"
echo "disk_free_mb: $(df -Pm "$dir" 2>/dev/null | awk 'NR==2 { print $4 }')"
