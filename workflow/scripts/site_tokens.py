"""A site set's tokens, read label-free with the training tokens' species (miam.inputs.sites)."""

from miam.inputs.sites import write_site_tokens
from miam.runs.runlog import log_to

log_to(snakemake.log[0])
write_site_tokens(
    snakemake.params.reader,
    snakemake.params.root,
    snakemake.params.options,
    snakemake.params.sites,
    snakemake.params.site_root,
    snakemake.input.trained,
    snakemake.output.tokens,
    snakemake.output.quality,
)
