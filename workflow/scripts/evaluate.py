"""Evaluate one trained model on its subsets; tidy rows keyed by dataset, model and seed."""

import torch

from miam.evaluation import evaluate_run
from miam.runlog import log_to

log_to(snakemake.log[0])
# training.threads: torch threads of every job that runs a model (0: the rule's threads)
torch.set_num_threads(snakemake.params.training["threads"] or snakemake.threads)
training = snakemake.params.training
frame = evaluate_run(
    snakemake.input.model,
    snakemake.input.tokens,
    snakemake.input.split,
    snakemake.params.subsets,
    batch_size=training["eval_batch_size"],
    device=training["device"],
)
wildcards = snakemake.wildcards
model = wildcards.name if wildcards.family == "train" else "oracle"
frame.insert(0, "dataset", wildcards.dataset)
frame.insert(1, "model", model)
frame.insert(2, "seed", int(wildcards.seed))
frame.to_csv(snakemake.output[0], index=False)
