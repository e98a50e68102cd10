"""Checksum the files of a local source into its manifest (miam.local_source); nothing is copied."""

from miam.local_source import write_manifest
from miam.runlog import log_to

log_to(snakemake.log[0])
write_manifest(snakemake.params.path, snakemake.output[0])
