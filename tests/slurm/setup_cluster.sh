#!/usr/bin/env bash
# Start a single-node SLURM cluster on localhost with one fake GPU, for testing the
# `slurm` Snakemake profile. Needs root (daemons, /etc/slurm) and apt (installs Debian's
# slurmctld, slurmd, slurm-client and munge when they are missing).
#
#   tests/slurm/setup_cluster.sh            state in $MIAM_SLURM_STATE (default /tmp/miam-slurm)
#   tests/slurm/stop_cluster.sh             stops the daemons again, by their pids
#
# Partitions: `cpu` (default) and `gpu`, both on the one node, which carries 16 fake GPUs
# (`gpu:fake:16`), so all training jobs of the test workflow run at once.
# Everything the cluster writes lives in the state dir; the only file outside it is the
# /etc/slurm/slurm.conf symlink (the plugin's job step drops SLURM_CONF before its `srun`).
set -euo pipefail

state=${MIAM_SLURM_STATE:-/tmp/miam-slurm}
# The node advertises this size whatever the machine has (SlurmdParameters=config_overrides),
# so the profile's real per-job requests (CPUs per GPU, memory) fit and several jobs run at
# once, as on a cluster; nothing enforces the limits (no cgroups) and the test jobs are tiny.
node_cpus=${MIAM_SLURM_NODE_CPUS:-64}
node_mem_mb=${MIAM_SLURM_NODE_MEM_MB:-256000}
node_gpus=${MIAM_SLURM_NODE_GPUS:-16}
node=$(hostname -s)
system_conf=/etc/slurm/slurm.conf

log() { echo "setup_cluster: $*" >&2; }
pid_of() { # waits for a daemon to write its pid file
    for _ in $(seq 50); do
        [[ -s $1 ]] && cat "$1" && return 0
        sleep 0.2
    done
    log "no pid file $1"
    return 1
}
# Each daemon's pid is recorded as soon as it runs, so stop_cluster.sh also cleans up after a
# set-up that failed half way.
record() { # name, pid file
    local pid
    pid=$(pid_of "$2")
    echo "$1 $pid" >>"$state/daemons.pids"
}

if [[ -s $state/daemons.pids ]]; then
    log "a cluster from $state may still be running; run tests/slurm/stop_cluster.sh first"
    exit 1
fi
if [[ -e $system_conf && ! -L $system_conf ]]; then
    log "$system_conf is a real file (a cluster is configured here); not touching it"
    exit 1
fi

bash "$(dirname "${BASH_SOURCE[0]}")/install_slurm.sh"

rm -rf "$state"
mkdir -p "$state"/{ctld,slurmd,log,munge,dev}
chmod 755 "$state"
if ! runuser -u munge -- test -x "$state"; then
    log "user munge cannot reach $state: make its parent directories world-executable"
    exit 1
fi

# munge: own key, socket, pid and log in the state dir, so a system munged is left alone.
munge_dir=$state/munge
dd if=/dev/urandom of="$munge_dir/munge.key" bs=1024 count=1 status=none
chown -R munge:munge "$munge_dir"
# Clients (slurm, every job) reach the socket through it: traverse, but not list.
chmod 711 "$munge_dir"
chmod 400 "$munge_dir/munge.key"
runuser -u munge -- munged \
    --socket="$munge_dir/munge.socket" \
    --key-file="$munge_dir/munge.key" \
    --pid-file="$munge_dir/munged.pid" \
    --log-file="$munge_dir/munged.log" \
    --seed-file="$munge_dir/munged.seed"
record munged "$munge_dir/munged.pid"

cat >"$state/slurm.conf" <<EOF
ClusterName=miamtest
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$munge_dir/munge.socket
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/slurmd
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
# No systemd or cgroups in containers: track processes by parent pid, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# No slurmdbd: sacct does not work, so the profile checks job status with squeue.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Without a default, one job without --mem would take the whole node.
DefMemPerCPU=1000
# Finished jobs stay visible to squeue/scontrol this long (status checks, test checks).
MinJobAge=600
ReturnToService=2
# Start submitted jobs at once rather than batching them up (quick test runs).
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SlurmdParameters=config_overrides
GresTypes=gpu
NodeName=$node NodeAddr=127.0.0.1 CPUs=$node_cpus RealMemory=$node_mem_mb Gres=gpu:fake:$node_gpus State=UNKNOWN
PartitionName=cpu Nodes=$node Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$node MaxTime=INFINITE State=UP
EOF
# Fake GPUs: links to /dev/null stand in for /dev/nvidia* (SLURM wants character devices);
# a job given one sees its index in CUDA_VISIBLE_DEVICES. No cgroups, so nothing is fenced.
for index in $(seq 0 $((node_gpus - 1))); do ln -s /dev/null "$state/dev/fakegpu$index"; done
cat >"$state/gres.conf" <<EOF
AutoDetect=off
NodeName=$node Name=gpu Type=fake File=$state/dev/fakegpu[0-$((node_gpus - 1))]
EOF
ln -sfn "$state/slurm.conf" "$system_conf"
ln -sfn "$state/gres.conf" /etc/slurm/gres.conf

slurmctld
record slurmctld "$state/slurmctld.pid"
slurmd
record slurmd "$state/slurmd.pid"

for _ in $(seq 60); do
    if [[ $(sinfo --noheader --partition=gpu --format=%t 2>/dev/null) == idle ]]; then
        log "node $node idle, partitions: $(sinfo --noheader --format=%P | tr '\n' ' ')"
        exit 0
    fi
    sleep 1
done
log "node $node did not become idle; sinfo says:"
sinfo >&2 || true
tail -n 20 "$state"/log/*.log >&2
exit 1
