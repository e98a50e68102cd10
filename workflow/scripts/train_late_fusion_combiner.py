"""Train the late_fusion_learned combiner of one seed (miam.late_fusion.train_combiner_run)."""

import torch

from miam.late_fusion import train_combiner_run
from miam.runlog import log_to

log_to(snakemake.log[0])
# training.threads: torch threads of every job that runs a model (0: the rule's threads)
torch.set_num_threads(snakemake.params.training["threads"] or snakemake.threads)
training = snakemake.params.training
train_combiner_run(
    list(snakemake.input.models),
    snakemake.input.tokens,
    snakemake.input.split,
    snakemake.output[0],
    seed=int(snakemake.wildcards.seed),
    batch_size=training["eval_batch_size"],
    device=training["device"],
)
