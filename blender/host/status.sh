# shellcheck shell=bash
# A job's status (sent on stdin after lib.sh and group.sh; PF_DIR is the run's folder): exit 44
# when there is none. The group is checked before the final status is read: a job that ends
# in between is then seen as ended, never as lost.
# shellcheck disable=SC2164 # a missing folder is answered by the test that follows
cd -- "$PF_DIR" 2>/dev/null && [ -f status.json ] || exit "$PF_EXIT_NO_JOB"
PF_PGID=$(pf_field pgid)
if [ -n "$PF_PGID" ] && pf_group_alive; then alive=1; else alive=0; fi
cat status.json
echo "alive=$alive"
