#!/usr/bin/env bash
# scripts/slurm-sweep.sbatch under a real Slurm: a one-node cluster on
# localhost (slurmctld + slurmd + munge from Debian's packages), then
#   1. the `smoke` preset as an array of 3 shards, the unsharded merge, and a
#      check that scores.csv and models.csv equal a plain run's;
#   2. a slower smoke config as an array of 2 shards, one task cancelled with
#      scancel mid-run, resubmitted with SHARDS, and shown to resume from its
#      checkpoint; the merge again equals a plain run;
#   3. the same config again, one task requeued by Slurm itself mid-run
#      (scontrol requeue, as preemption does): it restarts under its own
#      array, resumes from its checkpoint and appends to its log; the merge
#      equals a plain run.
# Each interruption waits for a state it can observe (the job's first
# checkpoint, polled, with a deadline), never for a fixed time.
# Needs root (apt-get, daemons) and an emerge binary:
#   EMERGE=target/release/emerge scripts/slurm-check.sh [WORKDIR]
# CI runs it with the dev-profile binary the tests built. On exit it stops
# the daemons it started (slurmctld, slurmd, and munged unless one was
# already running). WORKDIR keeps the config, the daemons' logs, the tasks'
# logs and the run folders; without one, a fresh /tmp/emerge-slurm.* folder
# holds them and is removed when the check passes (kept when it fails).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
EMERGE=$(realpath "${EMERGE:-$ROOT/target/release/emerge}")
[ -x "$EMERGE" ] || { echo "slurm-check: no emerge binary at $EMERGE (build it, or set EMERGE)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "slurm-check: needs root (apt-get and the Slurm daemons)" >&2; exit 2; }
if [ -n "${1:-}" ]; then
  WORK=$(realpath -m "$1") OWN_WORK=
else
  WORK=$(mktemp -d /tmp/emerge-slurm.XXXXXX) OWN_WORK=1
fi
mkdir -p "$WORK"/{state,spool,logs,runs}
say() { echo "== $*" >&2; }
MUNGED_PID= PASSED=
# Stop what this script started, then remove its own work folder if the
# check passed. Daemons get 10 s to exit after SIGTERM, then SIGKILL.
cleanup() {
  local pids=()
  # Jobs first: a task still running when the check fails would go on
  # training under slurmstepd after slurmd is gone.
  if [ -n "${SLURM_CONF:-}" ] && [ -n "$(squeue -h 2>/dev/null)" ]; then
    scancel --partition=check 2>/dev/null || true
    for _ in $(seq 300); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.1; done
  fi
  for f in "$WORK/slurmd.pid" "$WORK/slurmctld.pid"; do
    [ -s "$f" ] && pids+=("$(cat "$f")")
  done
  [ -n "$MUNGED_PID" ] && pids+=("$MUNGED_PID")
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  if [ -n "$OWN_WORK" ]; then
    if [ -n "$PASSED" ]; then rm -rf "$WORK"; else echo "slurm-check: kept $WORK for inspection" >&2; fi
  fi
}
trap cleanup EXIT

# --- a one-node cluster -----------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  say "installing slurm-wlm and munge (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq slurm-wlm munge >/dev/null
fi
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  [ -s /etc/munge/munge.key ] || { dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null; }
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge && chown munge:munge /run/munge
  # Its pid file in /run/munge (which munged can write) says what to stop.
  rm -f /run/munge/emerge-check.pid
  runuser -u munge -- munged --pid-file=/run/munge/emerge-check.pid
  # munged forks into the background; wait until it serves.
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  MUNGED_PID=$(cat /run/munge/emerge-check.pid 2>/dev/null || true)
  munge -n | unmunge >/dev/null
fi
HOST=$(hostname -s)
MEM_MB=$(awk '/MemTotal/ {print int($2 / 1024 / 2)}' /proc/meminfo)
# Ports away from the defaults, so a cluster already on this machine is left alone.
PORT=$(( 17000 + RANDOM % 2000 ))
export SLURM_CONF="$WORK/slurm.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=emerge-check
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$(( PORT + 1 ))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
# No cgroups in a container: track processes by parent id, bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
KillWait=5
MinJobAge=600
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$MEM_MB State=UNKNOWN
PartitionName=check Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
say "starting slurmctld and slurmd on $HOST (port $PORT), files in $WORK"
slurmctld -i
slurmd
for _ in $(seq 30); do
  sinfo -h -o '%T' 2>/dev/null | grep -qx idle && break
  sleep 1
done
sinfo -h -o '%T' | grep -qx idle || { sinfo >&2; tail -20 "$WORK/slurmctld.log" "$WORK/slurmd.log" >&2; echo "slurm-check: the node did not come up" >&2; exit 1; }

# Submit the sweep script; prints the job id. 1 CPU per task, so two tasks
# share the node and write into one run folder at the same time.
submit() { # array SHARDS-or-empty sweep-args...
  local array=$1 shards=$2; shift 2
  sbatch --parsable --array="$array" --cpus-per-task=1 --mem=1G \
    --chdir="$ROOT" --output="$WORK/logs/%A_%a.log" \
    --export="ALL,EMERGE=$EMERGE${shards:+,SHARDS=$shards}" \
    "$ROOT/scripts/slurm-sweep.sbatch" "$@"
}
# Wait until no task of the job is pending or running (up to 10 minutes).
wait_job() {
  for _ in $(seq 600); do
    [ -z "$(squeue -h -j "$1" 2>/dev/null)" ] && return 0
    sleep 1
  done
  echo "slurm-check: job $1 still running after 10 minutes" >&2; squeue >&2; exit 1
}
state() { scontrol -o show job "$1" | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
# Wait (up to 5 minutes) until the largest job of run $1, the last of shard
# 1 of 2, has written a checkpoint: a moment mid-job that shard 1 reaches
# whatever the machine's speed, with nine more checkpoints to go.
wait_checkpoint() {
  local ck="$R/$1/jobs/L2-D48-H4-s0/checkpoint/model.safetensors"
  for _ in $(seq 3000); do [ -e "$ck" ] && return 0; sleep 0.1; done
  echo "slurm-check: no checkpoint at $ck after 5 minutes" >&2; squeue >&2; exit 1
}
# The two runs' scores and models (models.csv has no timing columns).
same_results() { # run-a run-b
  cmp "$1/scores.csv" "$2/scores.csv" && cmp "$1/models.csv" "$2/models.csv"
}

# --- 1. the smoke preset as an array of 3 shards -----------------------------
R="$WORK/runs"
say "1. smoke preset, array of 3 shards"
job=$(submit 0-2 "" --preset smoke --runs-dir "$R" --name sharded)
wait_job "$job"
for t in 0 1 2; do
  s=$(scontrol -o show job "${job}_$t" | grep -o 'JobState=[A-Z_]*' | cut -d= -f2)
  [ "$s" = COMPLETED ] || { cat "$WORK/logs/${job}_$t.log" >&2; echo "slurm-check: task ${job}_$t ended $s" >&2; exit 1; }
done
"$EMERGE" sweep --preset smoke --runs-dir "$R" --name sharded >"$WORK/logs/merge1.log" 2>&1
"$EMERGE" sweep --preset smoke --runs-dir "$R" --name plain >"$WORK/logs/plain1.log" 2>&1
same_results "$R/plain" "$R/sharded"
grep -h 'shard' "$WORK/logs/${job}"_*.log | sed 's/^/   /' >&2
say "1. ok: 3 shards + merge equal a plain run (scores.csv, models.csv identical)"

# --- 2. scancel mid-run, resubmit, resume -------------------------------------
say "2. slower smoke config, array of 2 shards, task 1 cancelled mid-run"
CFG="$WORK/slow.toml"
sed -e 's/^tokens = .*/tokens = 400_000/' -e 's/^checkpoint_every = .*/checkpoint_every = 50/' \
  "$ROOT/harness/presets/smoke.toml" >"$CFG"
job=$(submit 0-1 "" --config "$CFG" --runs-dir "$R" --name cancelled)
# Shard 1 trains jobs 1 and 3 of the ladder (L1-D32-H2, L2-D48-H4); cancel it
# as soon as the last one has written its first checkpoint (of ten).
wait_checkpoint cancelled
scancel "${job}_1"
wait_job "$job"
s0=$(state "${job}_0"); s1=$(state "${job}_1")
[ "$s0" = COMPLETED ] && [ "$s1" = CANCELLED ] || { echo "slurm-check: expected task 0 COMPLETED and task 1 CANCELLED, got $s0 and $s1" >&2; exit 1; }
[ -e "$R/cancelled/jobs/L2-D48-H4-s0/status.json" ] && { echo "slurm-check: the cancelled job finished before scancel" >&2; exit 1; }
say "   task 1 cancelled mid-job; resubmitting it as --array=1 with SHARDS=2"
job2=$(submit 1 2 --config "$CFG" --runs-dir "$R" --name cancelled)
wait_job "$job2"
[ "$(state "${job2}_1")" = COMPLETED ] || { cat "$WORK/logs/${job2}_1.log" >&2; echo "slurm-check: the resubmitted task did not complete" >&2; exit 1; }
log="$WORK/logs/${job2}_1.log"
grep -q 'shard 1/2' "$log" || { cat "$log" >&2; echo "slurm-check: the resubmitted task did not run shard 1/2" >&2; exit 1; }
grep -Eq '1 of them resumed' "$log" || { cat "$log" >&2; echo "slurm-check: the resubmitted task did not resume from a checkpoint" >&2; exit 1; }
grep -E 'emerge-sweep:|resum|summary' "$log" | sed 's/^/   /' >&2
"$EMERGE" sweep --config "$CFG" --runs-dir "$R" --name cancelled >"$WORK/logs/merge2.log" 2>&1
"$EMERGE" sweep --config "$CFG" --runs-dir "$R" --name plain2 >"$WORK/logs/plain2.log" 2>&1
same_results "$R/plain2" "$R/cancelled"
say "2. ok: cancelled task resumed from its checkpoint; merge equals a plain run"

# --- 3. Slurm requeues a task itself ------------------------------------------
say "3. the same config, array of 2 shards, task 1 requeued by Slurm mid-run"
job=$(submit 0-1 "" --config "$CFG" --runs-dir "$R" --name requeued)
wait_checkpoint requeued
scontrol requeue "${job}_1"
wait_job "$job"
s0=$(state "${job}_0"); s1=$(state "${job}_1")
log="$WORK/logs/${job}_1.log"
[ "$s0" = COMPLETED ] && [ "$s1" = COMPLETED ] || { cat "$log" >&2; echo "slurm-check: expected both tasks COMPLETED after the requeue, got $s0 and $s1" >&2; exit 1; }
# One log, appended to: the first start, then the restart under the same
# array (shard 1/2 from the array's own task count, no SHARDS), which
# resumed the interrupted job from its checkpoint.
grep -q 'shard 1/2 (restart 0)' "$log" && grep -q 'shard 1/2 (restart 1)' "$log" \
  || { cat "$log" >&2; echo "slurm-check: the log of ${job}_1 does not hold both starts (restart 0 and 1) of shard 1/2" >&2; exit 1; }
grep -Eq '1 of them resumed' "$log" || { cat "$log" >&2; echo "slurm-check: the requeued task did not resume from a checkpoint" >&2; exit 1; }
grep -E 'emerge-sweep:|resum|summary' "$log" | sed 's/^/   /' >&2
"$EMERGE" sweep --config "$CFG" --runs-dir "$R" --name requeued >"$WORK/logs/merge3.log" 2>&1
same_results "$R/plain2" "$R/requeued"
say "3. ok: the requeued task restarted in its array, resumed from its checkpoint; merge equals a plain run"
PASSED=1
if [ -n "$OWN_WORK" ]; then say "slurm-check passed ($WORK removed)"; else say "slurm-check passed ($WORK)"; fi
