"""The row of a strategy family for one seed: its variant chosen on validation
(miam.analysis.selection), written as that family's evaluation rows."""

from miam.analysis.selection import selected_rows
from miam.analysis.tables import load_evaluations
from miam.runs.runlog import log_to

log_to(snakemake.log[0])
evaluations = load_evaluations(snakemake.input.variants)
rows = selected_rows(evaluations, snakemake.wildcards.family, snakemake.params.subsets)
rows.to_csv(snakemake.output[0], index=False)
