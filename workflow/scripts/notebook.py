"""Execute one report notebook with papermill, then export it to HTML (figures embedded)."""

import os
from pathlib import Path

import papermill
from nbconvert import HTMLExporter

from miam.runlog import log_to

log_to(snakemake.log[0])
available = {
    "dataset": snakemake.wildcards.dataset,
    "tables_dir": str(Path(snakemake.input.tables[0]).parent),
    "evaluations": list(snakemake.input.evaluations),
    "histories": list(snakemake.input.histories),
    "figures_dir": snakemake.output.figures,
    "strategies": list(snakemake.params.strategies),
    "weak_subsets": list(snakemake.params.weak_subsets),
}
# Each notebook declares the parameters it reads; pass only those.
declared = papermill.inspect_notebook(snakemake.input.notebook)
os.makedirs(snakemake.output.figures, exist_ok=True)
papermill.execute_notebook(
    snakemake.input.notebook,
    snakemake.output.notebook,
    parameters={k: v for k, v in available.items() if k in declared},
    kernel_name="python3",
    progress_bar=False,
    log_output=True,
    cwd=os.getcwd(),
)
html, _ = HTMLExporter().from_filename(snakemake.output.notebook)
Path(snakemake.output.html).write_text(html, encoding="utf-8")
