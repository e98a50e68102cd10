"""Write the paper's tables, the claims table and the summary page of one dataset
(miam.analysis.dataset_tables)."""

from pathlib import Path

from miam.analysis import tables
from miam.analysis.dataset_tables import write_dataset_tables
from miam.runs.runlog import log_to
from miam.workflow import pipeline

log_to(snakemake.log[0])
dataset = snakemake.wildcards.dataset
written = write_dataset_tables(
    tables.load_evaluations(snakemake.input.evaluations),
    dataset,
    snakemake.params.strategies,
    snakemake.params.subsets,  # name -> spec, in column order
    snakemake.params.weak_subsets,
    snakemake.input.profile,
    snakemake.input.quality,
    snakemake.input.issues,
    pipeline.comparison_note(snakemake.config["datasets"][dataset]),
    folder=Path(snakemake.output[0]).parent,
    summary_path=snakemake.output.summary,
)
assert written == set(snakemake.output), f"written {sorted(written)} != declared outputs"
