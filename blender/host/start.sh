# shellcheck shell=bash
# Starting a detached job, sent on stdin after lib.sh and group.sh and run in the run's
# folder. The CLI calls pf_refuse_if_running, writes the job's files, then pf_launch.

# Exit 17 while a job of this run is still running here.
pf_refuse_if_running() {
  if [ "$(pf_field state)" = running ]; then
    PF_PGID=$(pf_field pgid)
    if [ -n "$PF_PGID" ] && pf_group_alive; then
      echo "a job is already running in $(pwd) (process group $PF_PGID)" >&2
      exit "$PF_EXIT_ALREADY_RUNNING"
    fi
  fi
}

# Start .pf-wrapper.sh in its own session (it survives the connection), wait for its first
# status, print it.
pf_launch() {
  rm -f status.json stop-requested
  : >job.log
  if command -v setsid >/dev/null 2>&1; then
    setsid bash --noprofile --norc ./.pf-wrapper.sh </dev/null >>job.log 2>&1 &
  else
    perl -MPOSIX -e 'POSIX::setsid(); exec @ARGV' bash --noprofile --norc ./.pf-wrapper.sh </dev/null >>job.log 2>&1 &
  fi
  # The wrapper writes its first status within milliseconds: poll finely, give up after 10 s.
  local i=0
  while [ ! -f status.json ] && [ "$i" -lt 1000 ]; do
    sleep 0.01
    i=$((i + 1))
  done
  cat status.json
}
