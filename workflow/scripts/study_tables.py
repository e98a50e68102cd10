"""The tidy tables, verdicts and finding of one study (miam.analysis.study) from its points'
runs."""

from pathlib import Path

from miam.analysis.study import write_study
from miam.runs.runlog import log_to

log_to(snakemake.log[0])
written = write_study(
    snakemake.params.points,
    snakemake.input.evaluations,
    snakemake.input.histories,
    snakemake.params.benchmarks,
    snakemake.params.preregistration,
    Path(snakemake.output[0]).parent,
)
assert {str(p) for p in written} == set(snakemake.output), "written != declared outputs"
