"""Execute one report notebook and export it to HTML without its code (workflow.notebooks)."""

import os
from pathlib import Path

from miam.runs.runlog import log_to
from miam.workflow.notebooks import render_notebook

log_to(snakemake.log[0])
os.makedirs(snakemake.output.figures, exist_ok=True)
render_notebook(
    snakemake.input.notebook,
    snakemake.output.notebook,
    snakemake.output.html,
    available={
        "dataset": snakemake.wildcards.dataset,
        "tables_dir": str(Path(snakemake.input.tables[0]).parent),
        "evaluations": list(snakemake.input.evaluations),
        "histories": list(snakemake.input.histories),
        "figures_dir": snakemake.output.figures,
        "strategies": list(snakemake.params.strategies),
        "weak_subsets": list(snakemake.params.weak_subsets),
    },
)
