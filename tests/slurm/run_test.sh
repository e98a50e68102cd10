#!/usr/bin/env bash
# CI test of `snakemake --profile slurm` on a real single-node SLURM with a fake GPU.
#
#   bash tests/slurm/run_test.sh
#
# Installs and starts the cluster (setup_cluster.sh), builds the targets below with
# config/test.yaml through the profile in a copy of the repository, compares them with a local
# run of the same config (CI reuses the end-to-end test's run; without one, the targets are
# built locally first), and kills one training job after its first checkpoint, so the
# profile's retry must bring it back and the run must resume. Then checks (check_slurm_run.py): every job went
# through sbatch into the partition the profile names, GPU rules got a GPU, the killed run was
# resubmitted and resumed, the SLURM run's evaluation CSVs and tables equal the local ones,
# and the daemons are stopped.
# Needs root and apt-get; without them it prints SKIP and passes, except under CI=true.
#
# Environment:
#   MIAM_SLURM_WORKFLOW       directory with the Snakefile to test (default: this repository)
#   MIAM_SLURM_CONFIGFILE     config for both runs (default: config/test.yaml)
#   MIAM_SLURM_TARGETS        what to build (default: one dataset's tables: its data, training
#                             and evaluation jobs, every kind of rule but the notebooks and
#                             contributions); "" builds everything, which takes minutes longer
#   MIAM_SLURM_LOCAL_RESULTS  results/ of a local run already made with that config (of the
#                             targets or more, e.g. tests/test_workflow.py's end-to-end run):
#                             reused instead of running locally
#   MIAM_SLURM_WORK           where the copies and the cluster state go (default: a new temp dir)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
workflow=$(cd "${MIAM_SLURM_WORKFLOW:-$here/../..}" && pwd)
configfile=${MIAM_SLURM_CONFIGFILE:-config/test.yaml}
if [[ -v MIAM_SLURM_TARGETS ]]; then
    read -r -a targets <<<"$MIAM_SLURM_TARGETS"
else
    targets=(results/tiny-taxabench/tables/main.csv)
fi
log() { echo "slurm test: $*" >&2; }

cannot_run() {
    if [[ ${CI:-} == true ]]; then
        log "FAILED: $1 (CI=true: this test must run)"
        exit 1
    fi
    log "SKIP: $1; the SLURM test needs root and apt-get (Debian/Ubuntu)"
    exit 0
}
[[ $(id -u) == 0 ]] || cannot_run "not root"
command -v apt-get >/dev/null || cannot_run "no apt-get"
python -c "import snakemake_executor_plugin_slurm" 2>/dev/null \
    || { log "FAILED: snakemake-executor-plugin-slurm is not installed"; exit 1; }

work=${MIAM_SLURM_WORK:-$(mktemp -d /tmp/miam-slurm-test.XXXXXX)}
chmod 755 "$work" # munged runs as user munge and must reach its files in the cluster state
export MIAM_SLURM_STATE=$work/cluster
log "working in $work"
started=$SECONDS
elapsed() { echo "$((SECONDS - started)) s"; }

copy_workflow() { # a clean copy without results, so neither run sees the other's files
    mkdir -p "$2"
    tar -C "$1" --exclude=./results --exclude=./.snakemake --exclude=./.git \
        --exclude='__pycache__' -cf - . | tar -C "$2" -xf -
}
# Both runs start from one snapshot of the workflow, taken now: files edited while the test
# runs change neither.
copy_workflow "$workflow" "$work/snapshot"
# The profile ships with placeholders (my_account, my_gpu_partition, my_cpu_partition) and
# refuses to submit with them: the test cluster's account and partitions replace them.
sed -i -e 's/"my_account"/"ci"/' -e 's/"my_gpu_partition"/"gpu"/' -e 's/"my_cpu_partition"/"cpu"/' \
    "$work/snapshot/slurm/config.yaml"

# check_slurm_run.py reads each job's rule, wildcards and log from Snakemake's full job listing,
# which the workflow prints only with jobs.print_details (by default a job prints one line).
printf 'jobs: {print_details: true}\n' >"$work/print_details.yaml"
run_snakemake() { # directory, snakemake arguments...
    local dir=$1
    shift
    (cd "$dir" && PYTHONPATH="$dir/src${PYTHONPATH:+:$PYTHONPATH}" \
        snakemake --configfile "$configfile" "$work/print_details.yaml" "$@" \
        >"$dir/snakemake.out" 2>&1) || {
        tail -n 40 "$dir/snakemake.out" >&2
        log "FAILED: snakemake $* in $dir (full output: $dir/snakemake.out)"
        return 1
    }
}

if [[ -n ${MIAM_SLURM_LOCAL_RESULTS:-} ]]; then
    local_results=$MIAM_SLURM_LOCAL_RESULTS
    [[ -d $local_results ]] || { log "FAILED: no local results in $local_results"; exit 1; }
    log "reusing the local run in $local_results"
else
    copy_workflow "$work/snapshot" "$work/local"
    run_snakemake "$work/local" --cores "$(nproc)" "${targets[@]}"
    local_results=$work/local/results
    log "local run done ($(elapsed))"
fi

canceller=
trap '[[ -n $canceller ]] && kill "$canceller" 2>/dev/null; bash "$here/stop_cluster.sh" || true' EXIT
bash "$here/setup_cluster.sh"
log "cluster up ($(elapsed))"

job_state() { scontrol show job --oneliner "$1" | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
cancel_one_training_job() { # kill a training job once its current run has saved a checkpoint
    local log run dataset job seed comment id
    for _ in $(seq 3000); do
        # Each training job logs to results/{dataset}/logs/train/job{k}/seed{seed}.log and names
        # the run it is on ("run i/n: results/{dataset}/{family}/{name}/seed{seed}").
        for log in "$work"/slurm/results/*/logs/train/job*/seed*.log; do
            [[ -e $log ]] || continue
            run=$(grep -o 'run [0-9]*/[0-9]*: .*' "$log" | tail -n 1 | cut -d ' ' -f 3-)
            [[ -n $run && -e $work/slurm/$run/checkpoint.pt && ! -e $work/slurm/$run/model.pt ]] \
                || continue
            dataset=${log#"$work"/slurm/results/}
            dataset=${dataset%%/*}
            job=$(basename "$(dirname "$log")")
            seed=$(basename "$log" .log)
            # The rule is train_{dataset, non-word characters as _}_{k}; the plugin comments
            # each job with rule_{rule}_wildcards_{wildcard values joined by _}.
            comment=rule_train_${dataset//[^A-Za-z0-9_]/_}_${job#job}_wildcards_${seed#seed}
            id=$(squeue --noheader --states=RUNNING --format='%i %k' \
                | awk -v comment="$comment" '$2 == comment {print $1}')
            if [[ -z $id ]] || ! scancel "$id"; then continue; fi
            # Too late if it completes regardless; then wait for another run.
            while [[ $(job_state "$id") =~ ^(RUNNING|COMPLETING)$ ]]; do sleep 0.5; done
            if [[ $(job_state "$id") == CANCELLED ]]; then
                echo "$id" >"$work/cancelled_job"
                return
            fi
        done
        sleep 0.2
    done
}
copy_workflow "$work/snapshot" "$work/slurm"
cancel_one_training_job &
canceller=$!
# Logs of successful jobs are kept for inspection; everything else comes from the profile.
run_snakemake "$work/slurm" --profile slurm --slurm-keep-successful-logs "${targets[@]}"
kill "$canceller" 2>/dev/null || true
canceller=
log "SLURM run done ($(elapsed))"

failed=0
check=$here/check_slurm_run.py
python "$check" submitted "$work/slurm" --profile "$work/slurm/slurm/config.yaml" \
    --cancelled-job-file "$work/cancelled_job" || failed=1
python "$check" same-results "$local_results" "$work/slurm/results" || failed=1

trap - EXIT
bash "$here/stop_cluster.sh" || failed=1
python "$check" stopped --state "$MIAM_SLURM_STATE" || failed=1

if [[ $failed == 0 ]]; then
    log "PASSED in $(elapsed)"
else
    log "FAILED after $(elapsed); files in $work"
fi
exit "$failed"
