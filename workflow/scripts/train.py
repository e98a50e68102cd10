"""Train the runs of one job in one process (miam.runs.training.train_runs)."""

from miam.runs.runlog import log_to
from miam.runs.runtime import job_threads
from miam.runs.training import train_runs

log_to(snakemake.log[0])
runs = [dict(run) for run in snakemake.params.runs]
for run in runs:
    run["training"] = dict(run["training"], threads=job_threads(run["training"], snakemake.threads))
train_runs(snakemake.input.tokens, snakemake.input.split, runs)
