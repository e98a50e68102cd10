"""A generated grid's inputs and planted truth (miam.inputs.sites)."""

from miam.inputs.sites import write_generated_grid
from miam.runs.runlog import log_to

log_to(snakemake.log[0])
write_generated_grid(
    snakemake.params.source,
    snakemake.params.sites,
    snakemake.output.raw,
    snakemake.output.truth,
)
