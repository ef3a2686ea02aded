#!/bin/bash
# shellcheck shell=bash
# One task of a Slurm run's array (.pf-slurm-task.sh in the run's folder on the cluster's
# shared filesystem; sbatch runs it there with --chdir=<run folder> --export=NONE).
#
#   .pf-slurm-task.sh OFFSET ENVFILE
#     shard = SLURM_ARRAY_TASK_ID + OFFSET (chunks past MaxArraySize); ENVFILE = .pf-env-<attempt>.sh
#
# It runs the same job.sh as a single host, in shards/<shard>/ (its own job.json and
# inputs.txt), with the settings and storage keys from ENVFILE (mode 0600, written by
# the CLI, removed when the run ends: never on sbatch's command line or in --export, which
# slurmctld stores in its state directory). Then it pushes:
#   renders/, detections/, detections-<model>/  -> the same folders under <run key>/ (whole
#                                  clips: no other shard writes the same keys)
#   manifest.json, sha256sums.txt, renders/*/annotations.json, logs/job.log
#                               -> <run key>/shards/<shard>/ (the CLI merges these)
# Its output goes to logs/shard-<shard>.log in the run's folder.
#
# USR1 (sbatch --signal=B:USR1@N, N seconds before the time limit) or TERM: stop rendering,
# push what is finished, exit 24. Other exit codes as job.sh (0, 1, 20, 21, 22).
set -u
export PATH="${PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}"
PF_EXIT_TIME_LIMIT=24

run_dir=$(pwd)
shard=$((${SLURM_ARRAY_TASK_ID:-0} + ${1:-0}))
mkdir -p "$run_dir/logs"
exec >>"$run_dir/logs/shard-$shard.log" 2>&1

# shellcheck source=lib.sh
. "$run_dir/.pf-lib.sh"
pf_say "shard $shard: task ${SLURM_ARRAY_JOB_ID:-?}_${SLURM_ARRAY_TASK_ID:-?} on $(hostname) (GPUs: ${CUDA_VISIBLE_DEVICES:-none})"

# From the start (setup lines included): the default action of USR1 would end the task
# without pushing anything.
rc=0
signalled=0
child=""
# shellcheck disable=SC2317 # called by the trap
on_signal() {
  signalled=1
  pf_say "time limit near (or stopped): stopping, pushing what is finished"
  if [ -n "$child" ]; then kill -TERM -- "-$child" 2>/dev/null || kill -TERM "$child" 2>/dev/null; fi
}
trap on_signal USR1 TERM

env_file=${2:-}
case "$env_file" in .pf-env-*.sh) ;; *) env_file=/nonexistent ;; esac
if [ ! -r "$run_dir/$env_file" ]; then
  pf_say "no key file ${2:-} in $run_dir: the run was stopped or has ended"
  exit "$PF_EXIT_PULL_FAILED"
fi
# shellcheck disable=SC1090,SC1091
. "$run_dir/$env_file"

cd "$run_dir/shards/$shard" || {
  pf_say "no shards/$shard in $run_dir"
  exit "$PF_EXIT_PULL_FAILED"
}
cp -f "$run_dir/.pf-lib.sh" "$run_dir/.pf-rclone.sh" "$run_dir/job.sh" .
# shellcheck source=rclone.sh
. ./.pf-rclone.sh

# The target's `setup` lines (module load ..., conda activate ...), first in every task.
if [ -f "$run_dir/.pf-setup.sh" ]; then
  # shellcheck disable=SC1091
  . "$run_dir/.pf-setup.sh" || {
    pf_say "the target's setup lines failed"
    exit "$PF_EXIT_PULL_FAILED"
  }
fi

steps=" ${PF_STEPS:-pull render push} "
has_step() { case "$steps" in *" $1 "*) return 0 ;; esac; return 1; }


# Tasks share the inputs folder: one pull at a time (rclone skips what is there already).
if has_step pull; then
  mkdir -p "$PF_INPUTS"
  if command -v flock >/dev/null 2>&1; then
    PF_STEPS=pull flock "$PF_INPUTS/.pull.lock" bash --noprofile --norc ./job.sh
  else
    PF_STEPS=pull bash --noprofile --norc ./job.sh
  fi
  rc=$?
  [ "$rc" = 0 ] || exit "$rc"
fi

work=""
has_step render && work="render"
has_step detect && work="$work detect"
[ "$signalled" = 0 ] || work=""
if [ -n "$work" ]; then
  # Its own process group (job control), so a signal reaches Blender too.
  set -m
  PF_STEPS=$work bash --noprofile --norc ./job.sh &
  child=$!
  set +m
  # wait returns early when a trapped signal arrives: wait again until the job is gone.
  while :; do
    wait "$child"
    rc=$?
    kill -0 "$child" 2>/dev/null || break
  done
fi

if has_step push; then
  pf_say "pushing shard $shard to storage"
  find renders detections detections-* -type f ! -name annotations.json -print0 2>/dev/null | sort -z |
    xargs -0 -r sha256sum >sha256sums.txt
  mkdir -p logs
  cp -f "$run_dir/logs/shard-$shard.log" logs/job.log 2>/dev/null
  pushed=1
  if [ -d renders ]; then
    pf_rclone copy renders "$(pf_remote "$PF_RUN_KEY/renders")" --exclude '/*/annotations.json' || pushed=0
  fi
  # detections/ and detections-<model>/ (the further models of detect.models)
  for d in detections detections-*; do
    if [ -d "$d" ]; then
      pf_rclone copy "$d" "$(pf_remote "$PF_RUN_KEY/$d")" || pushed=0
    fi
  done
  pf_rclone copy . "$(pf_remote "$PF_RUN_KEY/shards/$shard")" --include /manifest.json \
    --include /sha256sums.txt --include '/renders/*/annotations.json' --include /logs/job.log || pushed=0
  if [ "$pushed" = 0 ]; then
    pf_say "pushing shard $shard failed"
    exit "$PF_EXIT_PUSH_FAILED"
  fi
fi
if [ "$signalled" = 1 ]; then exit "$PF_EXIT_TIME_LIMIT"; fi
pf_say "shard $shard done (exit $rc)"
exit "$rc"
