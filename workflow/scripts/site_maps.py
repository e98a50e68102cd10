"""A grid's GeoTIFFs and agreement with the planted truth (miam.analysis.predictions)."""

from miam.analysis.predictions import write_site_maps
from miam.runs.runlog import log_to

log_to(snakemake.log[0])
write_site_maps(
    snakemake.input.table,
    snakemake.input.trained,
    snakemake.input.truth[0] if snakemake.input.truth else None,
    snakemake.params.sites,
    snakemake.params.settings,
    snakemake.output.maps,
)
