"""Generate an embedded synthetic benchmark in its real dataset layout (miam.inputs.datasets)."""

from miam.inputs.sources import generate
from miam.runs.runlog import log_to

log_to(snakemake.log[0])
source = snakemake.params.source
generate(
    source["generator"],
    snakemake.output[0],
    scale=source["scale"],
    seed=source["seed"],
    samples=source.get("samples"),
    species_mix=source.get("species_mix"),
)
