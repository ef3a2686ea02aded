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

# The checks run at once, each into its own file, printed in order: a pod's slow parts
# (starting Blender, importing bpy or mediapipe) then cost the longest one, not their sum,
# and a pod seen before answers from pf_probe's cache.
pf_out=$(mktemp -d) || exit 1
trap 'rm -rf -- "$pf_out"' EXIT

# The first capture group of ERE $1 on the lines of stdin (sed -n s//p | head -n 1, in builtins).
pf_first_match() {
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    if [[ $line =~ $1 ]]; then
      printf '%s' "${BASH_REMATCH[1]}"
      return 0
    fi
  done
}

pf_check_blender() {
  local command=$PF_BLENDER_VERSION_COMMAND py program files=()
  # The default `blender` on a host with only setup-pod's bpy: the job renders with that (lib.sh).
  if [ "$command" = "blender --version 2>/dev/null" ] && py=$(pf_bpy_python); then
    command="$(printf '%q' "$py") -c 'import bpy; print(\"Blender \" + bpy.app.version_string)'"
    mapfile -t files < <(pf_package_files "$py" bpy)
  else
    # The executable the command starts (its first word, unquoted), found on PATH.
    program=$(eval "printf '%s\\n' $command" | head -n 1)
    files=("$(command -v -- "$program" 2>/dev/null || printf '%s' "$program")")
    case "$command" in *" -c "*"import bpy"*) mapfile -t files < <(pf_package_files "${files[0]}" bpy) ;; esac
  fi
  echo "blender: $(pf_probe blender "$command" "${files[@]}" | pf_first_match '^Blender ([0-9][0-9.]*)')"
}

# The same places detect_pose.py looks (default_model_path), in the same order.
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

pf_check_python() {
  local py model other files=()
  py=$(pf_find_python "$PF_PYTHON")
  echo "python: $py"
  echo "python_version: $("$py" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null | head -n 1)"
  mapfile -t files < <(pf_package_files "$(command -v -- "$py" 2>/dev/null || printf '%s' "$py")" mediapipe)
  echo "mediapipe: $(pf_probe mediapipe "$(printf '%q' "$py") -c 'import mediapipe; print(getattr(mediapipe, \"__version__\", \"unknown\"))'" "${files[@]}" | head -n 1)"
  # detect.model (or detect.modelPath), then each further model of detect.models.
  if [ -n "${PF_MODEL_PATH:-}" ]; then model=$PF_MODEL_PATH; else model=$(pf_pose_model "$PF_MODEL"); fi
  pf_model_line "$model"
  for other in ${PF_OTHER_MODELS:-}; do pf_model_line "$(pf_pose_model "$other")"; done
}

pf_check_gpu() {
  command -v nvidia-smi >/dev/null 2>&1 || return 0
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null |
    sed -n 's/^ *\([^,][^,]*\), *\([^,]*\), *\([^,]*\) *$/gpu: \1 (\2, driver \3)/p'
}

pf_check_rclone() {
  local rclone
  rclone=$(command -v rclone 2>/dev/null) || {
    echo "rclone: "
    return 0
  }
  echo "rclone: $(pf_probe rclone "rclone version" "$rclone" | pf_first_match '^rclone v?([0-9][^ ]*)')"
}

pf_check_blender >"$pf_out/blender" &
if [ "${PF_DETECT:-0}" = 1 ]; then pf_check_python >"$pf_out/python" & fi
if [ "${PF_GPU:-0}" = 1 ]; then pf_check_gpu >"$pf_out/gpu" & fi
if [ "${PF_RCLONE:-0}" = 1 ]; then pf_check_rclone >"$pf_out/rclone" & fi
wait
for pf_check in blender python gpu rclone; do
  [ -f "$pf_out/$pf_check" ] && pf_print_file "$pf_out/$pf_check"
done

# Free space where the run folder will be: its nearest folder that exists.
dir=$PF_WORKDIR
while [ ! -d "$dir" ] && [ "$dir" != / ] && [ "$dir" != . ]; do dir=$(dirname "$dir"); done
echo "disk_dir: $dir"
echo "disk_free_mb: $(df -Pm "$dir" 2>/dev/null | awk 'NR==2 { print $4 }')"
