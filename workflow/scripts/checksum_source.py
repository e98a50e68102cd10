"""Checksum the files of a local source into its manifest (inputs.local_source); no copy."""

from miam.inputs.local_source import write_manifest
from miam.runs.runlog import log_to

log_to(snakemake.log[0])
write_manifest(snakemake.params.path, snakemake.output[0])
