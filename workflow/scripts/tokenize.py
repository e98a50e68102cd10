"""Tokenize one shard of a dataset folder: its tokens and data-quality issues (inputs.tokenize)."""

from miam.inputs.sources import tokenize
from miam.runs.runlog import log_to

log_to(snakemake.log[0])
tokens, quality = tokenize(
    snakemake.params.reader,
    snakemake.params.root,
    progress=False,
    shard=tuple(snakemake.params.shard),
    **snakemake.params.options,
)
quality.frame().to_csv(snakemake.output.quality, index=False)
tokens.save(snakemake.output.tokens)
