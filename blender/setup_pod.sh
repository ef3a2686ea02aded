#!/usr/bin/env bash
# posefactory: idempotent bootstrap of a render host (a RunPod pod, Ubuntu/Debian).
#
#   setup_pod.sh            install what is missing; a marker records the versions installed
#   setup_pod.sh --force    install everything again
#   setup_pod.sh --check    install nothing: print what is there, exit 0 when set up, 3 when not
#
# `posefactory setup-pod` sends this file on stdin to `bash -s`. Installs (pinned):
# Blender (official tarball, sha256 verified), rclone (official zip, sha256 verified against
# the release's SHA256SUMS), python3 + a venv with mediapipe, the pose_landmarker model,
# and the libraries mediapipe needs (libgl1, libglib2.0-0). Prints the versions it finds,
# the GPU (nvidia-smi) and the free disk.
#
# Testable without the internet: with PF_SETUP_LIB_ONLY=1 the file only defines functions;
# a test sources it, replaces the pf_install_* functions with stubs and calls pf_main.
#
# What has been run for real, and where (test/integration/remote-setup-pod.test.ts,
# remote-cli.test.ts, against a local OpenSSH sshd on Debian 12, no internet, no GPU):
# the marker and idempotence logic (install once, skip, --force, redo after a tool vanished,
# a bumped pin or a changed model file; no marker after a failed step), pf_fetch's sha256
# check (file:// URLs), the version parsing on the real Blender 3.4.1, rclone 1.60.1 and
# Python 3.11 there, nvidia-smi's CSV format (sample lines) and `--check` end to end through
# `posefactory setup-pod --check`. NOT run here: the apt-get, curl, pip and tar steps
# (no internet) and nvidia-smi on a real GPU. Run `posefactory setup-pod` on a pod once
# after changing a pin.
set -uo pipefail

PF_SETUP_VERSION=1

BLENDER_VERSION="4.2.3"
BLENDER_SERIES="4.2"
BLENDER_URL="https://download.blender.org/release/Blender${BLENDER_SERIES}/blender-${BLENDER_VERSION}-linux-x64.tar.xz"
# sha256 of blender-4.2.3-linux-x64.tar.xz. Taken from a public Nix flake that fetches the
# same URL (hash sha256-OmTv0ZgkZTlaurQlm0CR1cjFYFTHJn6WM+T3Aqceo/Q=); compare it with
# https://download.blender.org/release/Blender4.2/blender-4.2.3.sha256 when bumping.
BLENDER_SHA256="3a64efd1982465395abab4259b4091d5c8c56054c7267e9633e4f702a71ea3f4"

RCLONE_VERSION="1.68.2"
RCLONE_URL="https://downloads.rclone.org/v${RCLONE_VERSION}/rclone-v${RCLONE_VERSION}-linux-amd64.zip"
RCLONE_SUMS_URL="https://downloads.rclone.org/v${RCLONE_VERSION}/SHA256SUMS"

MEDIAPIPE_VERSION="0.10.21"
POSE_MODEL="pose_landmarker_full"
POSE_MODEL_URL="https://storage.googleapis.com/mediapipe-models/pose_landmarker/${POSE_MODEL}/float16/1/${POSE_MODEL}.task"
# The float16/1 file's sha256 (the same value src/detect/model.ts pins). Set it empty to
# accept a changed file once (its sha256 is then recorded in the marker and verified after).
POSE_MODEL_SHA256="${POSE_MODEL_SHA256-5134a3aad27a58b93da0088d431f366da362b44e3ccfbe3462b3827a839011b1}"

APT_PACKAGES="ca-certificates curl unzip xz-utils python3 python3-venv libgl1 libglib2.0-0 libxi6 libxxf86vm1 libxfixes3 libxrender1 libxkbcommon0 libsm6"

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
pf_blender_cmd() {
  if [ -x "$PF_PREFIX/blender-$BLENDER_VERSION/blender" ]; then echo "$PF_PREFIX/blender-$BLENDER_VERSION/blender"; else command -v blender || true; fi
}
pf_python_cmd() {
  if [ -x "$PF_PREFIX/venv/bin/python" ]; then echo "$PF_PREFIX/venv/bin/python"; else command -v python3 || true; fi
}
pf_blender_version() { local b; b=$(pf_blender_cmd); [ -n "$b" ] && "$b" --version 2>/dev/null | pf_parse_blender_version; }
pf_rclone_version() { command -v rclone >/dev/null 2>&1 && rclone version 2>/dev/null | pf_parse_rclone_version; }
pf_python_version() { local p; p=$(pf_python_cmd); [ -n "$p" ] && "$p" --version 2>&1 | pf_parse_python_version; }
pf_mediapipe_version() {
  local p; p=$(pf_python_cmd)
  [ -n "$p" ] && "$p" -c 'import mediapipe; print(mediapipe.__version__)' 2>/dev/null | head -n 1
}
pf_model_path() { echo "$PF_PREFIX/models/$POSE_MODEL.task"; }
pf_sha256() { sha256sum "$1" | cut -d' ' -f1; }
pf_has_libgl() { ldconfig -p 2>/dev/null | grep -q 'libGL\.so\.1'; }

# The marker: what a complete setup looks like. Any difference (a pin bumped, a tool gone
# after a pod restart) means "set up again".
pf_wanted_marker() {
  printf 'setup=%s\nblender=%s\nrclone=%s\nmediapipe=%s\nmodel=%s\n' \
    "$PF_SETUP_VERSION" "$BLENDER_VERSION" "$RCLONE_VERSION" "$MEDIAPIPE_VERSION" "$POSE_MODEL"
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

pf_install_blender() {
  local dir="$PF_PREFIX/blender-$BLENDER_VERSION" tarball="$PF_PREFIX/downloads/blender-$BLENDER_VERSION.tar.xz"
  pf_fetch "$BLENDER_URL" "$BLENDER_SHA256" "$tarball"
  rm -rf "$dir" "$dir.tmp" && mkdir -p "$dir.tmp"
  tar -xJf "$tarball" -C "$dir.tmp" --strip-components=1 || pf_die "cannot unpack $tarball"
  mv "$dir.tmp" "$dir"
  rm -f "$tarball"
  ln -sf "$dir/blender" "$PF_BIN/blender"
}

pf_install_rclone() {
  local zip="$PF_PREFIX/downloads/rclone.zip" sums="$PF_PREFIX/downloads/rclone.SHA256SUMS"
  curl -fsSL --retry 3 -o "$sums" "$RCLONE_SUMS_URL" || pf_die "download failed: $RCLONE_SUMS_URL"
  local want
  want=$(grep "rclone-v$RCLONE_VERSION-linux-amd64.zip" "$sums" | cut -d' ' -f1)
  [ -n "$want" ] || pf_die "no checksum for rclone $RCLONE_VERSION in $RCLONE_SUMS_URL"
  pf_fetch "$RCLONE_URL" "$want" "$zip"
  rm -rf "$PF_PREFIX/rclone.tmp" && unzip -q -o "$zip" -d "$PF_PREFIX/rclone.tmp" || pf_die "cannot unpack $zip"
  install -m 755 "$PF_PREFIX/rclone.tmp/rclone-v$RCLONE_VERSION-linux-amd64/rclone" "$PF_BIN/rclone"
  rm -rf "$PF_PREFIX/rclone.tmp" "$zip" "$sums"
}

pf_install_python() {
  python3 -m venv "$PF_PREFIX/venv" || pf_die "cannot create the venv (python3-venv missing?)"
  "$PF_PREFIX/venv/bin/python" -m pip install -q --upgrade pip || pf_die "pip upgrade failed"
  "$PF_PREFIX/venv/bin/python" -m pip install -q "mediapipe==$MEDIAPIPE_VERSION" || pf_die "pip install mediapipe==$MEDIAPIPE_VERSION failed"
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

# --- reporting --------------------------------------------------------------------------
pf_report() {
  local gpus
  echo "blender: $(pf_blender_version || true) ($(pf_blender_cmd))"
  echo "rclone: $(pf_rclone_version || true)"
  echo "python: $(pf_python_version || true) ($(pf_python_cmd))"
  echo "mediapipe: $(pf_mediapipe_version || true)"
  echo "model: $(pf_model_path) $( [ -f "$(pf_model_path)" ] && pf_sha256 "$(pf_model_path)")"
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
  [ "$force" -eq 1 ] && pf_log "--force: installing everything again"
  [ "$force" -eq 1 ] || while IFS= read -r m; do pf_log "needed: $m"; done <<< "$missing"
  mkdir -p "$PF_PREFIX/downloads" "$PF_BIN" || pf_die "cannot create $PF_PREFIX"
  rm -f "$PF_MARKER"
  pf_log "system packages"; pf_install_packages
  pf_log "blender $BLENDER_VERSION"; pf_install_blender
  pf_log "rclone $RCLONE_VERSION"; pf_install_rclone
  pf_log "python venv + mediapipe $MEDIAPIPE_VERSION"; pf_install_python
  pf_log "pose model $POSE_MODEL"; pf_install_model
  # The marker is written last: an interrupted setup is redone next time.
  { pf_wanted_marker; echo "model_sha256=${PF_MODEL_SHA256:-}"; } > "$PF_MARKER.tmp" && mv -f "$PF_MARKER.tmp" "$PF_MARKER"
  pf_log "done; python for detection: $PF_PREFIX/venv/bin/python"
  pf_report
}

if [ "${PF_SETUP_LIB_ONLY:-0}" != 1 ]; then
  pf_main "$@"
  exit $?
fi
