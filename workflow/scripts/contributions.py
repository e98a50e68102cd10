"""Shapley contributions of modalities and token groups of one dataset (analysis.contributions)."""

import torch

from miam.analysis.contribution_settings import ContributionSettings
from miam.analysis.contributions import contributions_run
from miam.runs.runlog import log_to

log_to(snakemake.log[0])
# training.threads: torch threads of every job that runs a model (0: the rule's threads)
torch.set_num_threads(snakemake.params.training["threads"] or snakemake.threads)
settings = ContributionSettings.from_dict(snakemake.params.options, snakemake.params.reader)
tables = contributions_run(
    dict(zip(snakemake.params.strategies, snakemake.input.models, strict=True)),
    snakemake.input.tokens,
    snakemake.input.split,
    settings,
    device=snakemake.params.training["device"],
)
for name, frame in tables.items():
    frame.insert(0, "dataset", snakemake.wildcards.dataset)
    frame.insert(2, "seed", snakemake.params.seed)
    frame.insert(3, "split", settings.split)
    frame.to_csv(snakemake.output[name], index=False)
