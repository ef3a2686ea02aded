# shellcheck shell=bash
# The session leader of a detached job (.pf-wrapper.sh in the run's folder): records the
# job's status around job.sh. Started by start.sh under setsid, in the run's folder.
# shellcheck source=lib.sh
. ./.pf-lib.sh
PF_PGID=$$
PF_STARTED_MS=$(pf_now_ms)
PF_STARTED=$(pf_iso)
pf_write_status running
# A TERM for the group reaches the job too; bash runs this trap once the job has ended.
# shellcheck disable=SC2034 # the trap only has to exist
trap 'pf_signalled=1' TERM INT HUP
bash --noprofile --norc ./job.sh
code=$?
PF_ENDED_MS=$(pf_now_ms)
PF_ENDED=$(pf_iso)
if [ -e stop-requested ]; then
  state=stopped
elif [ "$code" -eq 0 ]; then
  state="done"
else
  state=failed
fi
pf_write_status "$state" "$code"
