"""Execute the maps page of one dataset and export it to HTML (miam.workflow.notebooks)."""

import os
from pathlib import Path

from miam.runs.runlog import log_to
from miam.workflow.notebooks import render_notebook

log_to(snakemake.log[0])
os.makedirs(snakemake.output.figures, exist_ok=True)
settings = snakemake.params.settings
render_notebook(
    snakemake.input.notebook,
    snakemake.output.notebook,
    snakemake.output.html,
    available={
        "dataset": snakemake.wildcards.dataset,
        "predictions_dir": str(Path(snakemake.input.tables[0]).parent.parent),
        "figures_dir": snakemake.output.figures,
        "site_sets": {name: spec["kind"] for name, spec in settings["sites"].items()},
        "map_models": settings["map_models"],
        "full_scenario": settings["full_scenario"],
    },
)
