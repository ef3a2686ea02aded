# shellcheck shell=bash
# shellcheck disable=SC2034 # PF_* variables are read by the functions of lib.sh and group.sh
# Stop a job (sent on stdin after lib.sh and group.sh; PF_DIR, PF_GRACE_TENTHS): TERM its
# process group, KILL what is left after the grace period, and make sure status.json says
# `stopped` even when KILL left no wrapper to write it. Exit 44 when there is no job.
# shellcheck disable=SC2164 # a missing folder is answered by the test that follows
cd -- "$PF_DIR" 2>/dev/null && [ -f status.json ] || exit "$PF_EXIT_NO_JOB"
if [ "$(pf_field state)" = running ]; then
  PF_PGID=$(pf_field pgid)
  : >stop-requested
  if [ -n "$PF_PGID" ] && [ "$PF_PGID" -gt 1 ]; then pf_stop_group; fi
  # The wrapper is in the group: once the group is gone it has written its status, or was KILLed.
  if [ "$(pf_field state)" = running ]; then
    PF_STARTED=$(pf_field startedAt)
    PF_STARTED_MS=$(pf_field startedAtMs)
    PF_ENDED_MS=$(pf_now_ms)
    PF_ENDED=$(pf_iso)
    pf_write_status stopped 137
  fi
fi
cat status.json
