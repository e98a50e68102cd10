"""Evaluate every model of one dataset and seed, and its late fusion (analysis.evaluation_jobs)."""

import torch

from miam.analysis.evaluation_jobs import evaluate_seed
from miam.runs.runlog import log_to
from miam.runs.runtime import job_threads

log_to(snakemake.log[0])
training = snakemake.params.training
torch.set_num_threads(job_threads(training, snakemake.threads))
evaluate_seed(
    snakemake.params.dataset,
    int(snakemake.wildcards.seed),
    snakemake.input.tokens,
    snakemake.input.split,
    snakemake.params.models,
    snakemake.params.late_fusion,
    batch_size=training["eval_batch_size"],
    device=training["device"],
)
