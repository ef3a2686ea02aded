# shellcheck shell=bash
# Functions every posefactory script on a render host shares. The job scripts source it from
# the run's folder (.pf-lib.sh, written there when the job starts); the CLI puts it in front
# of the short scripts it sends on stdin (start, status, follow, stop).

# Exit codes of the host's scripts; src/run/exit-codes.ts names the same numbers.
# shellcheck disable=SC2034
PF_EXIT_ALREADY_RUNNING=17 PF_EXIT_PULL_FAILED=20 PF_EXIT_DETECT_FAILED=21 PF_EXIT_PUSH_FAILED=22 PF_EXIT_NO_JOB=44

# Same prefix as the Blender scripts' messages, so the CLI shows both at info level.
pf_say() { printf 'posefactory: %s\n' "$*"; }

# Builtins where bash has them (EPOCHREALTIME: bash 5; printf %()T: 4.2), `date` elsewhere: the
# wrapper stamps the job's end with both, and the CLI waits for that status.
pf_now_ms() {
  local t
  if [ -n "${EPOCHREALTIME:-}" ]; then
    # Microseconds; the decimal point follows the locale.
    t=${EPOCHREALTIME/[.,]/}
    printf '%s' "${t%???}"
    return
  fi
  t=$(date +%s%3N 2>/dev/null)
  case "$t" in *N* | '') t=$(($(date +%s) * 1000)) ;; esac
  printf '%s' "$t"
}

pf_iso() { TZ=UTC printf '%(%Y-%m-%dT%H:%M:%SZ)T\n' -1 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ; }

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

# Print a file as cat does, with builtins (the preflight waits for every process it starts).
pf_print_file() {
  local text=
  IFS= read -r -d '' text <"$1"
  printf '%s' "$text"
}

# posefactory's cache folder on this host (the same one detect_pose.py uses); fails without HOME.
pf_cache_dir() {
  if [ -n "${POSEFACTORY_CACHE_DIR:-}" ]; then
    printf '%s' "$POSEFACTORY_CACHE_DIR"
  elif [ -n "${XDG_CACHE_HOME:-}" ]; then
    printf '%s' "$XDG_CACHE_HOME/posefactory"
  elif [ -n "${HOME:-}" ]; then
    printf '%s' "$HOME/.cache/posefactory"
  else
    return 1
  fi
}

# pf_probe NAME COMMAND [FILE...]: print what COMMAND (eval'd, stderr dropped) prints, from a
# cache on the host while the FILEs it depends on (its executable, the package folders it
# imports) are unchanged: importing bpy or mediapipe, or starting Blender, costs seconds on
# every run otherwise. The key holds each file's size, mtime, ctime (ns) and inode, so an
# upgrade in place misses the cache. Nothing is cached when a FILE is missing or the probe
# printed nothing: a fix on the host shows on the next run.
pf_probe() {
  local name=$1 command=$2 key f dir file out
  shift 2
  key=$command
  for f in "$@"; do
    f=$(stat -L -c '%n %s %.9Y %.9Z %i' -- "$f" 2>/dev/null) || {
      eval "$command" 2>/dev/null
      return
    }
    key="$key
$f"
  done
  dir=$(pf_cache_dir) || set -- # no cache folder (no HOME): probe, do not cache
  dir=$dir/probes
  file=$(printf '%s' "$key" | cksum)
  file="$dir/$name-${file%% *}"
  if [ "$#" -gt 0 ] && [ -s "$file" ]; then
    pf_print_file "$file"
    return 0
  fi
  out=$(eval "$command" 2>/dev/null)
  [ -n "$out" ] || return 0
  printf '%s\n' "$out"
  if [ "$#" -gt 0 ] && mkdir -p -- "$dir" 2>/dev/null; then
    printf '%s\n' "$out" >"$file.$$" && mv -f -- "$file.$$" "$file"
  fi
  return 0
}

# The files a Python's import of package $2 depends on: the interpreter and, in a venv or
# prefix laid out as <prefix>/bin/python, <prefix>/lib/python3*/site-packages/$2/__init__.py.
# Prints nothing when the package is not in that layout (the probe then is not cached).
pf_package_files() {
  local prefix init
  prefix=$(dirname -- "$(dirname -- "$1")")
  for init in "$prefix"/lib/python3*/site-packages/"$2"/__init__.py; do
    [ -f "$init" ] && printf '%s\n%s\n' "$1" "$init" && return 0
  done
  return 0
}

# Whether Python $1 imports bpy (cached while the interpreter and bpy are unchanged).
pf_bpy_ok() {
  local files
  mapfile -t files < <(pf_package_files "$1" bpy)
  [ -n "$(pf_probe bpy "$(printf '%q' "$1") -c 'import bpy; print(1)'" "${files[@]}")" ]
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
  pf_bpy_ok "$py" || return 1
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
