"""Every seed of the predicting models on one site set, per scenario (miam.analysis.predictions)."""

import torch

from miam.analysis.predictions import predict_site_set
from miam.runs.runlog import log_to
from miam.runs.runtime import job_threads

log_to(snakemake.log[0])
torch.set_num_threads(job_threads(snakemake.params.training, snakemake.threads))
predict_site_set(
    snakemake.params.models,
    snakemake.input.tokens,
    snakemake.input.trained,
    snakemake.input.split,
    snakemake.params.settings,
    snakemake.output.table,
    snakemake.output.summary,
    device=snakemake.params.training.get("device", "auto"),
)
