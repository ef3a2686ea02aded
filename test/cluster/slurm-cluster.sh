#!/usr/bin/env bash
# A one-node Slurm cluster for tests and CI: slurmctld + slurmd + munge from Debian, two fake
# GPUs as GRES, optionally slurmdbd + MariaDB for accounting (sacct). Runs as root without
# systemd (no cgroups: proctrack/linuxproc, task/none).
#
#   bash test/cluster/slurm-cluster.sh up       install (once) + configure + start; idempotent
#   bash test/cluster/slurm-cluster.sh down     stop the daemons, leave no pid files behind
#   bash test/cluster/slurm-cluster.sh status   exit 0 when the node is idle/mixed/allocated
#
# Environment: ACCOUNTING=1 adds slurmdbd + MariaDB; GPUS (default 2) fake GPUs;
# MAX_ARRAY_SIZE (default 8, small on purpose so tests exercise chunked submission).
set -euo pipefail

ACCOUNTING=${ACCOUNTING:-0}
GPUS=${GPUS:-2}
MAX_ARRAY_SIZE=${MAX_ARRAY_SIZE:-8}
HOST=$(hostname -s)
STATE_DIR=/var/lib/slurm/slurmctld
LOG_DIR=/var/log/slurm

log() { echo "slurm-cluster: $*" >&2; }

# Polls a condition (a command line) for up to 60 s.
wait_for() {
  local i
  for i in $(seq 1 120); do
    if bash -c "$1" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  log "timed out waiting for: $1"
  return 1
}

install_packages() {
  local need=()
  [ -x /usr/sbin/slurmctld ] || need+=(slurmctld)
  [ -x /usr/sbin/slurmd ] || need+=(slurmd)
  command -v sbatch >/dev/null 2>&1 || need+=(slurm-client)
  [ -x /usr/sbin/munged ] || need+=(munge)
  if [ "$ACCOUNTING" = 1 ]; then
    [ -x /usr/sbin/slurmdbd ] || need+=(slurmdbd)
    command -v mysqld >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
  fi
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # The packages' postinst tries to start daemons with an unconfigured slurm.conf: harmless.
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
}

write_config() {
  local cpus accounting i
  if [ "$GPUS" -lt 1 ] || [ "$GPUS" -gt 2 ]; then
    log "GPUS must be 1 or 2 (one distinct device file per fake GPU: /dev/null, /dev/zero)"
    return 1
  fi
  cpus=$(nproc)
  mkdir -p /etc/slurm "$STATE_DIR" /var/lib/slurm/slurmd "$LOG_DIR"
  chown slurm:slurm "$STATE_DIR" "$LOG_DIR"
  if [ "$ACCOUNTING" = 1 ]; then
    accounting=$'AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=127.0.0.1\nJobAcctGatherType=jobacct_gather/linux'
  else
    accounting=$'AccountingStorageType=accounting_storage/none\nJobAcctGatherType=jobacct_gather/none'
  fi
  # MinJobAge is long so that squeue keeps finished tasks while a test reads them without
  # accounting; KillWait short so cancelled/timed-out tasks leave quickly.
  cat >/etc/slurm/slurm.conf <<EOF
ClusterName=pfci
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=3600
KillWait=5
MaxArraySize=${MAX_ARRAY_SIZE}
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmdSpoolDir=/var/lib/slurm/slurmd
StateSaveLocation=${STATE_DIR}
SlurmctldLogFile=${LOG_DIR}/slurmctld.log
SlurmdLogFile=${LOG_DIR}/slurmd.log
${accounting}
GresTypes=gpu
NodeName=${HOST} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=4000 Gres=gpu:${GPUS} State=UNKNOWN
PartitionName=gpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  # One File= line per fake GPU: a Count-only gpu line registers 0 GPUs and drains the node.
  {
    echo "AutoDetect=off"
    for i in $(seq 1 "$GPUS"); do
      if [ $((i % 2)) = 1 ]; then echo "NodeName=${HOST} Name=gpu File=/dev/null"; else echo "NodeName=${HOST} Name=gpu File=/dev/zero"; fi
    done
  } >/etc/slurm/gres.conf
}

start_accounting() {
  /etc/init.d/mariadb start >/dev/null
  mysql -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db; CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'pfci'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
  install -m 600 -o slurm -g slurm /dev/stdin /etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=slurm
LogFile=${LOG_DIR}/slurmdbd.log
PidFile=/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=pfci
StorageLoc=slurm_acct_db
EOF
  /usr/sbin/slurmdbd
  wait_for "sacctmgr -n show cluster"
  sacctmgr -i add cluster pfci >/dev/null 2>&1 || true
}

is_up() {
  scontrol ping 2>/dev/null | grep -q UP || return 1
  local state
  state=$(sinfo -h -N -o %T 2>/dev/null | head -n1)
  case "$state" in idle | mixed | allocated | completing) return 0 ;; *) return 1 ;; esac
}

up() {
  install_packages
  if is_up; then
    log "already up"
    return 0
  fi
  stop_daemons
  write_config
  /etc/init.d/munge start >/dev/null
  munge -n | unmunge >/dev/null
  if [ "$ACCOUNTING" = 1 ]; then start_accounting; fi
  /usr/sbin/slurmctld
  wait_for "scontrol ping | grep -q UP"
  /usr/sbin/slurmd
  wait_for "[ \"\$(sinfo -h -N -o %T)\" = idle ]"
  log "up: $(sinfo -h -N -o '%N %T %G cpus=%c')"
}

# Kills a daemon by its pid file and waits for it to go.
stop_pidfile() {
  local file=$1 pid i
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if kill "$pid" 2>/dev/null; then
    for i in $(seq 1 40); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
  fi
  # A stale pid file makes Debian's slurmctld prerm run scancel, which aborts apt purge.
  rm -f "$file"
}

stop_daemons() {
  stop_pidfile /run/slurmd.pid
  stop_pidfile /run/slurmctld.pid
  stop_pidfile /run/slurmdbd.pid
}

down() {
  # Cancel what is left so that no task outlives the cluster, then stop the daemons.
  if is_up; then scancel --full --quiet --user=root 2>/dev/null || true; fi
  stop_daemons
  if [ -x /etc/init.d/mariadb ] && [ "$ACCOUNTING" = 1 ]; then /etc/init.d/mariadb stop >/dev/null || true; fi
  /etc/init.d/munge stop >/dev/null 2>&1 || true
  log "down"
}

case "${1:-}" in
up) up ;;
down) down ;;
status) is_up ;;
*)
  echo "usage: $0 up|down|status" >&2
  exit 2
  ;;
esac
