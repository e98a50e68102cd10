"""Write the paper's tables of one dataset (miam.tables) as CSV, Markdown and LaTeX."""

from pathlib import Path

from miam import deployment, tables
from miam.runlog import log_to

log_to(snakemake.log[0])
evaluations = tables.load_evaluations(snakemake.input.evaluations)
subsets = snakemake.params.subsets  # name -> spec, in column order
extra_columns = {
    "avg": tables.named_average,  # the paper's uniform mean over the named columns
    "deployment": deployment.deployment_column(
        deployment.read_profile(snakemake.input.profile), subsets
    ),
}
built = tables.build_tables(evaluations, snakemake.params.strategies, list(subsets), extra_columns)
written = {
    str(path)
    for table in built.values()
    for path in tables.write_table(table, Path(snakemake.output[0]).parent)
}
assert written == set(snakemake.output), f"written {sorted(written)} != declared outputs"
