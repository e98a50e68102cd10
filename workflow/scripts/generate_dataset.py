"""Generate an embedded synthetic benchmark in its real dataset layout (miam.datasets)."""

from miam.runlog import log_to
from miam.sources import generate

log_to(snakemake.log[0])
source = snakemake.params.source
generate(
    source["generator"],
    snakemake.output[0],
    scale=source["scale"],
    seed=source["seed"],
)
