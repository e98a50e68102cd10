"""Tokenize a dataset folder into a token set plus its data-quality report (miam.tokenize)."""

from miam.runlog import log_to
from miam.sources import tokenize

log_to(snakemake.log[0])
tokens, quality = tokenize(
    snakemake.params.reader, snakemake.input.raw, progress=False, **snakemake.params.options
)
quality.write(snakemake.output.quality_csv, snakemake.output.quality_json)
tokens.save(snakemake.output.tokens)
