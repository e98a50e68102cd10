"""Evaluate late_fusion and late_fusion_learned of one seed; tidy rows as evaluate.py writes."""

import torch

from miam.late_fusion import evaluate_late_fusion
from miam.runlog import log_to

log_to(snakemake.log[0])
# training.threads: torch threads of every job that runs a model (0: the rule's threads)
torch.set_num_threads(snakemake.params.training["threads"] or snakemake.threads)
training = snakemake.params.training
frames = evaluate_late_fusion(
    list(snakemake.input.models),
    snakemake.input.tokens,
    snakemake.input.split,
    snakemake.params.subsets,
    snakemake.input.combiner,
    batch_size=training["eval_batch_size"],
    device=training["device"],
)
for model, frame in frames.items():
    frame.insert(0, "dataset", snakemake.wildcards.dataset)
    frame.insert(1, "model", model)
    frame.insert(2, "seed", int(snakemake.wildcards.seed))
    frame.to_csv(snakemake.output[model], index=False)
