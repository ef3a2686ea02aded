# shellcheck shell=bash
# A run's work on its render host: job.sh in the run's folder, run by the job runner (the
# detached wrapper, or a Slurm task) with the run's folder as the working directory.
#
# PF_STEPS says which steps run, in this order: pull render detect push. A new run on an ssh
# target runs all four; the local target only renders; a resumed run runs what is missing
# (`push` after a failed push, `detect push` after a failed detection).
#
# Settings (environment, from the CLI):
#   PF_STEPS            e.g. "pull render detect push"
#   PF_INPUTS           the host's inputs folder (characters/, blender/, ...)    pull, detect
#   PF_INPUTS_KEY       storage key of the inputs, without the bucket           pull
#   PF_RUN_KEY          storage key of this run, without the bucket             push
#   PF_RENDER_COMMAND   Blender's command line (quoted words)                    render
#   PF_PYTHON           the target's python (pf_find_python finds setup-pod's)   detect
#   PF_DETECT_ARGS      detect_pose.py and its arguments (quoted words)          detect
#   PF_S3_*             storage settings for rclone.sh                            pull, push
# Files: inputs.txt (the files to pull, relative to PF_INPUTS, one a line: characters/...,
# blender/..., backgrounds/..., animations/...), job.json (the render job).
#
# Exit code: Blender's (0 all rendered, 1 some character failed, more: it broke), else 20
# pulling failed, 21 detection failed, 22 pushing failed (src/run/exit-codes.ts).
set -u
# shellcheck source=lib.sh
. ./.pf-lib.sh

pf_step() { case " $PF_STEPS " in *" $1 "*) return 0 ;; esac; return 1; }

if pf_step pull || pf_step push; then
  # shellcheck source=rclone.sh
  . ./.pf-rclone.sh
fi

# One rclone call for every input (each start costs), then a check that each one arrived:
# rclone skips listed files that storage does not have.
pf_pull() {
  mkdir -p "$PF_INPUTS"
  pf_rclone copy "$(pf_remote "$PF_INPUTS_KEY")" "$PF_INPUTS" --files-from-raw inputs.txt || {
    pf_say "pulling inputs failed"
    return 1
  }
  local rel missing=0
  while IFS= read -r rel; do
    if [ -n "$rel" ] && [ ! -f "$PF_INPUTS/$rel" ]; then
      pf_say "not in storage: $PF_INPUTS_KEY/$rel (upload it: posefactory upload)"
      missing=1
    fi
  done <inputs.txt
  [ "$missing" = 0 ] || return 1
  pf_link_assets
}

# Blender reads every file of the backgrounds and animations folders, and the inputs cache
# keeps what earlier runs pulled: the run gets its own assets/ folder with exactly its files
# (hard links into the cache, copies across filesystems).
pf_link_assets() {
  local rel
  rm -rf assets
  while IFS= read -r rel; do
    case "$rel" in
      backgrounds/* | animations/*)
        mkdir -p "assets/$(dirname -- "$rel")" || return 1
        if ! ln -f -- "$PF_INPUTS/$rel" "assets/$rel" 2>/dev/null &&
          ! cp -f -- "$PF_INPUTS/$rel" "assets/$rel"; then
          pf_say "could not put $rel into the run's assets/"
          return 1
        fi
        ;;
    esac
  done <inputs.txt
}

rc=0
if pf_step pull; then
  pf_say "pulling inputs from storage"
  pf_pull || exit "$PF_EXIT_PULL_FAILED"
fi

# OptiX keeps compiled kernels in one cache per user (/var/tmp/OptixCache_$USER) that every
# Blender and driver on the box shares; a stale one made renders about 10x slower (BlenderProc
# issue 200). Unless the user set one, on a render host (PF_INPUTS set: <workdir>/inputs) each
# Blender install (its command line) gets its own cache under the workdir, <workdir>/cache/
# optix/<cksum>, so it never reads kernels another one wrote. The local target keeps the user's.
pf_optix_cache() {
  if [ -n "${OPTIX_CACHE_PATH:-}" ] || [ -z "${PF_INPUTS:-}" ]; then return 0; fi
  OPTIX_CACHE_PATH="$PF_INPUTS/../cache/optix/$(printf %s "$PF_RENDER_COMMAND" | cksum | cut -d' ' -f1)"
  mkdir -p "$OPTIX_CACHE_PATH" && export OPTIX_CACHE_PATH
}

if pf_step render; then
  pf_say "rendering"
  command=$(pf_render_command "$PF_RENDER_COMMAND")
  if [ "$command" != "$PF_RENDER_COMMAND" ]; then pf_say "no blender binary here: using setup-pod's bpy"; fi
  PF_RENDER_COMMAND=$command
  pf_optix_cache
  eval "$PF_RENDER_COMMAND"
  rc=$?
  if [ "$rc" -gt 1 ]; then pf_say "Blender exited with $rc"; fi
fi

if pf_step detect && [ "$rc" -le 1 ] && [ -f manifest.json ]; then
  py=$(pf_find_python "$PF_PYTHON")
  pf_say "detecting poses"
  eval "set -- $PF_DETECT_ARGS"
  "$py" "$@" || {
    pf_say "detection failed"
    rc=$PF_EXIT_DETECT_FAILED
  }
fi

if pf_step push; then
  if ! pf_step render && [ ! -f manifest.json ]; then
    pf_say "no manifest.json here: nothing to push"
    exit "$PF_EXIT_PUSH_FAILED"
  fi
  pf_say "pushing results to storage"
  # detections-<model>/: the further models of detect.models.
  find renders detections detections-* -type f -print0 2>/dev/null | sort -z | xargs -0 -r sha256sum >sha256sums.txt
  # logs/job.log keeps the render's log; a later job (detection again) adds its own to it.
  mkdir -p logs
  if pf_step render; then
    cp -f job.log logs/job.log 2>/dev/null
  elif pf_step detect; then
    cat job.log >>logs/job.log 2>/dev/null
  fi
  # After a render every file is new to storage (a new run, or a render done again): sent
  # without listing the run's key first (one request per 1000 keys saved). A push alone (the
  # resume of a failed push) skips what arrived the first time.
  fresh=()
  if pf_step render; then fresh=(--no-check-dest); fi
  pf_rclone copy . "$(pf_remote "$PF_RUN_KEY")" ${fresh[@]+"${fresh[@]}"} --exclude /job.sh --exclude '/.pf-*' \
    --exclude /job.log --exclude /status.json --exclude /inputs.txt --exclude /assets/ --exclude /stop-requested || {
    pf_say "pushing results failed"
    exit "$PF_EXIT_PUSH_FAILED"
  }
  pf_say "done"
fi
exit "$rc"
