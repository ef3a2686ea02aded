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
# as a zombie where PID 1 does not reap). status.json is read with builtins every 10 ms,
# waiting with `read -t` on a pipe nobody writes to: the job's end shows within ~20 ms (the
# loop below: up to PF_POLL, 0.1 s) and the host spends a third of that loop's CPU on it.
if tail --pid=$$ -c 0 /dev/null 2>/dev/null && exec {nap}<> <(:); then
  sleep infinity >/dev/null 2>&1 &
  keeper=$!
  tail -c +$((off + 1)) -f -s 0.01 --pid="$keeper" job.log &
  tailer=$!
  n=0
  while pf_still_running; do
    n=$((n + 1))
    # The caller went away (tail died writing to it), or the job's processes vanished.
    if ! kill -0 "$tailer" 2>/dev/null; then break; fi
    if [ $((n % 100)) -eq 0 ] && ! pf_group_alive; then break; fi
    read -r -t 0.01 -u "$nap" _ || :
  done
  kill "$keeper" 2>/dev/null
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
