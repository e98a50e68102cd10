"""Execute one report notebook and export it to HTML without its code (workflow.notebooks)."""

import os
from pathlib import Path

from miam.runs.runlog import log_to
from miam.workflow.notebooks import render_notebook


def named(section, *names, kind=list) -> dict:
    """The entries among `names` that the rule's `section` (wildcards, input, params) has."""
    return {name: kind(getattr(section, name)) for name in names if hasattr(section, name)}


log_to(snakemake.log[0])
os.makedirs(snakemake.output.figures, exist_ok=True)
render_notebook(
    snakemake.input.notebook,
    snakemake.output.notebook,
    snakemake.output.html,
    # A report notebook's dataset, files, strategies and weak subsets; a study notebook's study.
    available={
        **named(snakemake.wildcards, "dataset", "study", kind=str),
        "tables_dir": str(Path(snakemake.input.tables[0]).parent),
        "figures_dir": snakemake.output.figures,
        **named(snakemake.input, "evaluations", "histories"),
        **named(snakemake.params, "strategies", "weak_subsets"),
    },
)
