# shellcheck shell=bash
# Process-group functions for every script that manages a job's processes (PF_PGID, and
# PF_GRACE_TENTHS for pf_stop_group). `pf_group_alive` reads /proc so zombies (left when PID 1
# does not reap) count as gone; without /proc (macOS) it falls back to `kill -0`.
pf_group_alive() {
  if [ -d /proc/self ]; then
    local f s
    for f in /proc/[0-9]*/stat; do
      read -r s <"$f" 2>/dev/null || continue
      s=${s##*) }
      # shellcheck disable=SC2086 # split the stat fields on purpose
      set -- $s
      if [ "$3" = "$PF_PGID" ] && [ "$1" != Z ] && [ "$1" != X ]; then return 0; fi
    done
    return 1
  fi
  kill -0 -- "-$PF_PGID" 2>/dev/null
}

pf_stop_group() {
  kill -TERM -- "-$PF_PGID" 2>/dev/null || return 0
  local i=0
  while [ "$i" -lt "$PF_GRACE_TENTHS" ]; do
    pf_group_alive || return 0
    sleep 0.1
    i=$((i + 1))
  done
  kill -KILL -- "-$PF_PGID" 2>/dev/null
  i=0
  while [ "$i" -lt 50 ] && pf_group_alive; do
    sleep 0.1
    i=$((i + 1))
  done
  return 0
}
