# shellcheck shell=bash
# shellcheck disable=SC2034 # PF_* variables are read by the functions of lib.sh and group.sh
# Print job.log from byte PF_OFFSET (sent on stdin after lib.sh and group.sh; PF_DIR). With
# PF_FOLLOW=1, poll every PF_POLL seconds until status.json leaves `running` (or the job's
# process group is gone), then print the rest and the final status on stderr (that saves the
# caller two round trips). `tail | head -c` prints exactly the bytes that existed when the size
# was read, so a growing file is never cut mid-count.
cd -- "$PF_DIR" || exit 1
[ -f job.log ] || exit 0
off=$PF_OFFSET

pf_flush() {
  local size
  size=$(wc -c <job.log | tr -d ' ')
  if [ "$size" -gt "$off" ]; then
    tail -c +$((off + 1)) job.log | head -c $((size - off))
    off=$size
  fi
}

if [ "$PF_FOLLOW" != 1 ]; then
  pf_flush
  exit 0
fi
PF_PGID=$(pf_field pgid)
n=0
while :; do
  pf_flush
  read -r line <status.json || line=
  case "$line" in
  *'"state":"running"'*) ;;
  *)
    pf_flush
    cat status.json >&2
    exit 0
    ;;
  esac
  n=$((n + 1))
  if [ $((n % 25)) -eq 0 ] && ! pf_group_alive; then
    pf_flush
    exit 0
  fi
  sleep "$PF_POLL"
done
