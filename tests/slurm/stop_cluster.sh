#!/usr/bin/env bash
# Stop the daemons started by setup_cluster.sh, by the pids it recorded, and check they are
# gone. Exits non-zero if any daemon outlives SIGTERM and SIGKILL.
set -uo pipefail

state=${MIAM_SLURM_STATE:-/tmp/miam-slurm}
pids_file=$state/daemons.pids
system_conf=/etc/slurm/slurm.conf

log() { echo "stop_cluster: $*" >&2; }

if [[ ! -s $pids_file ]]; then
    log "no $pids_file: nothing to stop"
    exit 0
fi

alive() { kill -0 "$1" 2>/dev/null; }

# slurmd first, munged last: the slurm daemons talk to munge while shutting down.
for name in slurmd slurmctld munged; do
    pid=$(awk -v name="$name" '$1 == name {print $2}' "$pids_file")
    [[ -n $pid ]] || continue
    alive "$pid" && kill -TERM "$pid"
    for _ in $(seq 50); do
        alive "$pid" || break
        sleep 0.2
    done
    if alive "$pid"; then
        log "$name ($pid) ignored SIGTERM; sending SIGKILL"
        kill -KILL "$pid"
        sleep 0.5
    fi
done

still_running=0
while read -r name pid; do
    if alive "$pid"; then
        log "$name ($pid) is still running"
        still_running=1
    else
        log "$name ($pid) stopped"
    fi
done <"$pids_file"

if [[ $still_running == 0 ]]; then
    # Keep the pid list for checks (check_slurm_run.py stopped); the next setup refuses to
    # start while daemons.pids exists, so rename it.
    mv "$pids_file" "$state/stopped.pids"
    for link in "$system_conf" /etc/slurm/gres.conf; do
        [[ -L $link && $(readlink "$link") == "$state"/* ]] && rm "$link"
    done
fi
exit "$still_running"
