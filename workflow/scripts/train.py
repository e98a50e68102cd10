"""Train one strategy model or one oracle (miam.training.train_run)."""

from pathlib import Path

from miam.runlog import log_to
from miam.training import train_run

log_to(snakemake.log[0])
training = dict(snakemake.params.training)
training["threads"] = training.get("threads") or snakemake.threads
train_run(
    tokens=snakemake.input.tokens,
    split=snakemake.input.split,
    out_dir=Path(snakemake.output.model).parent,
    seed=int(snakemake.wildcards.seed),
    strategy=snakemake.params.strategy,
    subset=snakemake.params.subset,
    model=snakemake.params.model,
    training=training,
    selection_subsets=getattr(snakemake.params, "selection_subsets", None),
)
