# shellcheck shell=bash
# Functions every posefactory script on a render host shares. The job scripts source it from
# the run's folder (.pf-lib.sh, written there when the job starts); the CLI puts it in front
# of the short scripts it sends on stdin (start, status, follow, stop).

# Exit codes of the host's scripts; src/run/exit-codes.ts names the same numbers.
# shellcheck disable=SC2034
PF_EXIT_ALREADY_RUNNING=17 PF_EXIT_PULL_FAILED=20 PF_EXIT_DETECT_FAILED=21 PF_EXIT_PUSH_FAILED=22 PF_EXIT_NO_JOB=44

# Same prefix as the Blender scripts' messages, so the CLI shows both at info level.
pf_say() { printf 'posefactory: %s\n' "$*"; }

pf_now_ms() {
  local t
  t=$(date +%s%3N 2>/dev/null)
  case "$t" in *N* | '') t=$(($(date +%s) * 1000)) ;; esac
  printf '%s' "$t"
}

pf_iso() { date -u +%Y-%m-%dT%H:%M:%SZ; }

# One field of status.json. Its format is fixed (one line, no spaces) so sed can read it back.
pf_field() {
  sed -E -n 's/.*"'"$1"'":("[^"]*"|[0-9.]*|null).*/\1/p' status.json 2>/dev/null | tr -d '"'
}

# pf_write_status STATE [EXIT]: status.json from PF_STARTED(_MS), PF_ENDED(_MS) and PF_PGID,
# written to a temporary file first so a reader never sees half of it.
pf_write_status() {
  local ended=null exit=null seconds=null ended_ms=null
  if [ "$1" != running ]; then
    ended="\"$PF_ENDED\""
    exit="$2"
    ended_ms="$PF_ENDED_MS"
    local d=$((PF_ENDED_MS - PF_STARTED_MS))
    seconds=$(printf '%d.%03d' $((d / 1000)) $((d % 1000)))
  fi
  printf '{"state":"%s","exitCode":%s,"startedAt":"%s","endedAt":%s,"seconds":%s,"pid":%s,"pgid":%s,"startedAtMs":%s,"endedAtMs":%s}\n' \
    "$1" "$exit" "$PF_STARTED" "$ended" "$seconds" "$PF_PGID" "$PF_PGID" "$PF_STARTED_MS" "$ended_ms" >status.json.tmp
  mv -f status.json.tmp status.json
}

# The Python that has mediapipe: the configured one, unless it is the default python3 (which
# has none on a fresh pod); then the venv `posefactory setup-pod` made, where it makes it
# (setup_pod.sh's PF_PREFIX: /workspace/posefactory-tools, else /opt/posefactory).
pf_find_python() {
  local p
  if [ "${1:-python3}" = python3 ]; then
    for p in "${PF_PREFIX:-/nonexistent}/venv/bin/python" /workspace/posefactory-tools/venv/bin/python /opt/posefactory/venv/bin/python; do
      if [ -x "$p" ]; then
        printf '%s' "$p"
        return 0
      fi
    done
  fi
  printf '%s' "${1:-python3}"
}

# setup-pod installs Blender as the bpy module in its venv, not as a `blender` binary. A target
# left at the default `blender` would then find no Blender on a freshly set-up pod, so where
# no `blender` is on PATH and setup-pod's venv imports bpy, use that venv's Python instead.
# Prints the Python; fails (prints nothing) when there is a blender binary or no such venv.
pf_bpy_python() {
  local py
  command -v blender >/dev/null 2>&1 && return 1
  py=$(pf_find_python python3)
  [ "$py" != python3 ] || return 1
  "$py" -c 'import bpy' >/dev/null 2>&1 || return 1
  printf '%s' "$py"
}

# The binary launcher's command line for the default `blender` (src/render/launcher.ts).
PF_BLENDER_BINARY_PREFIX='blender --background --factory-startup --python-exit-code 2 --python '

# Prints the render command this host runs: $1 as given, or, for the default `blender` on a
# host that only has setup-pod's bpy, the same script and arguments under the module launcher.
pf_render_command() {
  local py
  case "$1" in
    "$PF_BLENDER_BINARY_PREFIX"*)
      if py=$(pf_bpy_python); then
        printf '%q %s' "$py" "${1#"$PF_BLENDER_BINARY_PREFIX"}"
        return 0
      fi
      ;;
  esac
  printf '%s' "$1"
}
