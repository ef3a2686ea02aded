#!/usr/bin/env bash
# posefactory's pod watchdog: makes a RunPod pod stop or terminate itself, so a closed laptop
# or a killed CLI never leaves a GPU billing. Started by posefactory (pipeline, pod up) in its
# own session beside the job, so it does not depend on any SSH connection. It acts when
#   (a) no job is running (the run's job ended and pushed its results) and no posefactory
#       client has touched the heartbeat file for PF_WD_IDLE_SECONDS: PF_WD_IDLE_ACTION;
#   (b) the pod has been up for PF_WD_MAX_SECONDS (maxHours): terminate;
#   (c) the run has cost PF_WD_MAX_COST USD at PF_WD_COST_PER_HOUR: terminate.
# It never stops a job that is still rendering except for (b) and (c), and then it stops the
# job and pushes what exists first. Why it acted goes to the job's log and watchdog.log.
#
# The API call uses the pod's own RUNPOD_POD_ID and pod-scoped RUNPOD_API_KEY (RUNPOD_API_URL
# when set), read from the environment or from /etc/rp_environment (RunPod's start.sh writes
# it; SSH sessions do not inherit the container's environment). The key reaches curl on
# stdin, never on its command line.
#
# Settings (environment, set by posefactory):
#   PF_WD_DIR            folder for heartbeat, watchdog.pid, watchdog.log (required)
#   PF_WD_JOB_DIR        the current run's job folder (status.json, job.log, push.sh); optional
#   PF_WD_IDLE_SECONDS   idle time before (a)                       (default 1200)
#   PF_WD_IDLE_ACTION    stop or terminate                          (default terminate)
#   PF_WD_POD_STARTED    epoch seconds the pod started              (default: now)
#   PF_WD_MAX_SECONDS    the pod's hard cap                         (default 21600)
#   PF_WD_RUN_STARTED    epoch seconds the run started              (default: now)
#   PF_WD_COST_PER_HOUR  USD per hour (0: no cost cap)              (default 0)
#   PF_WD_MAX_COST       USD                                        (default 0: none)
#   PF_WD_POLL_SECONDS   seconds between checks                     (default 30)
set -u

: "${PF_WD_DIR:?PF_WD_DIR is required}"
PF_WD_JOB_DIR="${PF_WD_JOB_DIR:-}"
PF_WD_IDLE_SECONDS="${PF_WD_IDLE_SECONDS:-1200}"
PF_WD_IDLE_ACTION="${PF_WD_IDLE_ACTION:-terminate}"
PF_WD_POD_STARTED="${PF_WD_POD_STARTED:-$(date +%s)}"
PF_WD_MAX_SECONDS="${PF_WD_MAX_SECONDS:-21600}"
PF_WD_RUN_STARTED="${PF_WD_RUN_STARTED:-$(date +%s)}"
PF_WD_COST_PER_HOUR="${PF_WD_COST_PER_HOUR:-0}"
PF_WD_MAX_COST="${PF_WD_MAX_COST:-0}"
PF_WD_POLL_SECONDS="${PF_WD_POLL_SECONDS:-30}"

if [ -z "${RUNPOD_POD_ID:-}" ] && [ -r /etc/rp_environment ]; then
  # shellcheck disable=SC1091
  . /etc/rp_environment
fi
API_URL="${RUNPOD_API_URL:-https://api.runpod.io/v2}"
STARTED=$(date +%s)
HEARTBEAT="$PF_WD_DIR/heartbeat"

wd_log() {
  local line
  line="posefactory watchdog: $*"
  printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$line" >> "$PF_WD_DIR/watchdog.log"
  if [ -n "$PF_WD_JOB_DIR" ] && [ -d "$PF_WD_JOB_DIR" ]; then
    printf '%s\n' "$line" >> "$PF_WD_JOB_DIR/job.log"
  fi
}

# "field" of status.json (flat JSON written by posefactory's job wrapper).
wd_status_field() {
  [ -n "$PF_WD_JOB_DIR" ] || return 0
  sed -E -n 's/.*"'"$1"'":("[^"]*"|[0-9.]*|null).*/\1/p' "$PF_WD_JOB_DIR/status.json" 2>/dev/null | tr -d '"'
}

wd_job_running() {
  [ "$(wd_status_field state)" = running ] || return 1
  local pgid
  pgid=$(wd_status_field pgid)
  # pf_group_alive comes from group.sh, which pod-side.ts writes in front of this script.
  [ -n "$pgid" ] && PF_PGID=$pgid pf_group_alive
}

wd_mtime() { stat -c %Y "$1" 2>/dev/null || echo 0; }

# Seconds since anything kept the pod busy: a client's heartbeat, the job's end, our start.
wd_idle_seconds() {
  local now last t
  now=$(date +%s)
  last=$STARTED
  t=$(wd_mtime "$HEARTBEAT"); [ "$t" -gt "$last" ] && last=$t
  if [ -n "$PF_WD_JOB_DIR" ]; then
    t=$(wd_mtime "$PF_WD_JOB_DIR/status.json"); [ "$t" -gt "$last" ] && last=$t
  fi
  echo $(( now - last ))
}

wd_run_cost() {
  awk -v s="$(( $(date +%s) - PF_WD_RUN_STARTED ))" -v c="$PF_WD_COST_PER_HOUR" \
    'BEGIN { printf "%.4f", s * c / 3600 }'
}

wd_over_cost() {
  awk -v cost="$(wd_run_cost)" -v max="$PF_WD_MAX_COST" 'BEGIN { exit !(max > 0 && cost >= max) }'
}

# Stop the rendering job (TERM, KILL after 10 s), then push what it made.
wd_stop_job_and_push() {
  local pgid i
  pgid=$(wd_status_field pgid)
  : > "$PF_WD_JOB_DIR/stop-requested"
  if [ -n "$pgid" ] && [ "$pgid" -gt 1 ]; then
    kill -TERM -- "-$pgid" 2>/dev/null
    for i in $(seq 1 100); do
      wd_group_alive "$pgid" || break
      [ "$i" -eq 100 ] && kill -KILL -- "-$pgid" 2>/dev/null
      sleep 0.1
    done
  fi
  wd_push
}

wd_push() {
  if [ -f "$PF_WD_JOB_DIR/push.sh" ]; then
    wd_log "pushing the results that exist"
    if (cd "$PF_WD_JOB_DIR" && bash --noprofile --norc ./push.sh >> job.log 2>&1); then
      wd_log "pushed"
      return 0
    fi
    wd_log "pushing failed; the results stay on the pod's disk"
    return 1
  fi
  return 1
}

# POST /pods/{id}/action; the key goes to curl on stdin (--config -), never on a command line.
wd_action() {
  local action=$1 code
  if [ -z "${RUNPOD_POD_ID:-}" ] || [ -z "${RUNPOD_API_KEY:-}" ]; then
    wd_log "cannot $action the pod: RUNPOD_POD_ID / RUNPOD_API_KEY are not set"
    return 1
  fi
  code=$(printf 'header = "Authorization: Bearer %s"\n' "$RUNPOD_API_KEY" |
    curl -sS -o /dev/null -w '%{http_code}' --max-time 30 --config - \
      -X POST -H 'content-type: application/json' -d "{\"action\":\"$action\"}" \
      "$API_URL/pods/$RUNPOD_POD_ID/action" 2>> "$PF_WD_DIR/watchdog.log")
  case "$code" in
    200|204) wd_log "$action requested (HTTP $code)"; return 0 ;;
    *) wd_log "$action failed (HTTP ${code:-none}); trying again later"; return 1 ;;
  esac
}

trap 'exit 0' TERM INT HUP
wd_log "started (pod ${RUNPOD_POD_ID:-?}; idle ${PF_WD_IDLE_SECONDS} s -> $PF_WD_IDLE_ACTION, cap ${PF_WD_MAX_SECONDS} s, max cost \$${PF_WD_MAX_COST})"
pushed_again=0
while :; do
  now=$(date +%s)
  reason=""
  action=""
  if [ $(( now - PF_WD_POD_STARTED )) -ge "$PF_WD_MAX_SECONDS" ]; then
    reason="maxHours reached: the pod has been up $(( now - PF_WD_POD_STARTED )) s"
    action=terminate
  elif wd_over_cost; then
    reason="maxRunCost reached: this run has cost \$$(wd_run_cost) (max \$$PF_WD_MAX_COST)"
    action=terminate
  elif ! wd_job_running; then
    idle=$(wd_idle_seconds)
    if [ "$idle" -ge "$PF_WD_IDLE_SECONDS" ]; then
      if [ "$(wd_status_field exitCode)" = 22 ] && [ "$pushed_again" -eq 0 ]; then
        # The job could not push: try once more, and keep the disk (stop) if that fails too.
        pushed_again=1
        wd_push || PF_WD_IDLE_ACTION=stop
      fi
      reason="idle: no job running and no posefactory client for $idle s (idleMinutes)"
      action=$PF_WD_IDLE_ACTION
    fi
  fi
  if [ -n "$action" ]; then
    if [ "$action" = terminate ] && wd_job_running; then
      wd_log "$reason: stopping the job"
      wd_stop_job_and_push
    fi
    wd_log "$reason: $action the pod"
    if wd_action "$action"; then
      # The container ends with the pod; if it has not a minute later, look again.
      sleep 60
    fi
  fi
  sleep "$PF_WD_POLL_SECONDS"
done
