"""Submission files of a site set (miam.analysis.predictions)."""

from miam.analysis.predictions import write_submissions
from miam.runs.runlog import log_to

log_to(snakemake.log[0])
write_submissions(
    snakemake.input.table,
    snakemake.params.submission,
    snakemake.params.settings,
    snakemake.output.submission,
)
