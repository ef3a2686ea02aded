# shellcheck shell=bash
# shellcheck disable=SC2034 # PF_* variables are read by the functions of lib.sh and group.sh
# Print job.log from byte PF_OFFSET (sent on stdin after lib.sh and group.sh; PF_DIR). With
# PF_FOLLOW=1, follow it until status.json leaves `running` (or the job's process group is
# gone), then print the rest and the final status on stderr (that saves the caller two round
# trips). Every byte is printed exactly once, so the caller's offset stays exact.
cd -- "$PF_DIR" || exit 1
[ -f job.log ] || exit 0
off=$PF_OFFSET

# `tail | head -c` prints exactly the bytes that existed when the size was read, so a growing
# file is never cut mid-count.
pf_flush() {
  local size
  size=$(wc -c <job.log | tr -d ' ')
  if [ "$size" -gt "$off" ]; then
    tail -c +$((off + 1)) job.log | head -c $((size - off))
    off=$size
  fi
}

# status.json still says running (a builtin read: no process started).
pf_still_running() {
  local line
  read -r line <status.json || line=
  case "$line" in *'"state":"running"'*) return 0 ;; esac
  return 1
}

if [ "$PF_FOLLOW" != 1 ]; then
  pf_flush
  exit 0
fi
PF_PGID=$(pf_field pgid)

# With GNU tail: `tail -f` prints each write as it happens (inotify) and, given --pid, prints
# everything written up to that process's end before it exits. That process is our own
# sleep, ended once status.json says the job is over (not the job's wrapper: it can linger
# as a zombie where PID 1 does not reap). A second tail follows status.json by name (-F: the
# wrapper replaces it with a rename) and prints its line at each change, so the loop below
# sleeps in `read` until status.json changes, or for a second to check that the caller and
# the job are still there: the job's end shows at once, and nothing polls during the render
# (where inotify is missing, that tail polls every 0.1 s).
if tail --pid=$$ -c 0 /dev/null 2>/dev/null && exec {changes}< <(exec tail -n 1 -F -s 0.1 status.json 2>/dev/null); then
  watcher=$!
  sleep infinity >/dev/null 2>&1 &
  keeper=$!
  tail -c +$((off + 1)) -f -s 0.01 --pid="$keeper" job.log &
  tailer=$!
  while pf_still_running; do
    # The caller went away (tail died writing to it), or the job's processes vanished.
    if ! kill -0 "$tailer" 2>/dev/null || ! pf_group_alive; then break; fi
    # End of file: the watcher is gone (status.json removed); poll instead.
    read -r -t 1 -u "$changes" _ || [ $? -gt 128 ] || sleep 0.1
  done
  kill "$keeper" "$watcher" 2>/dev/null
  wait "$keeper" 2>/dev/null
  wait "$tailer"
  if ! pf_still_running; then cat status.json >&2; fi
  exit 0
fi

# Elsewhere (busybox, BSD tail): poll every PF_POLL seconds.
n=0
while :; do
  pf_flush
  if ! pf_still_running; then
    pf_flush
    cat status.json >&2
    exit 0
  fi
  n=$((n + 1))
  if [ $((n % 25)) -eq 0 ] && ! pf_group_alive; then
    pf_flush
    exit 0
  fi
  sleep "$PF_POLL"
done
