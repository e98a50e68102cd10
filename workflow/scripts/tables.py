"""Write the paper's tables of one dataset (miam.analysis.tables) as CSV, Markdown and LaTeX, and
the claims table (miam.analysis.claims): each claim of the paper with its paired difference."""

from pathlib import Path

from miam.analysis import claims, tables
from miam.analysis import deployment_score as deployment
from miam.analysis.selection import chosen_variants, describe_choice
from miam.runs.runlog import log_to
from miam.workflow import pipeline

log_to(snakemake.log[0])
evaluations = tables.load_evaluations(snakemake.input.evaluations)
subsets = snakemake.params.subsets  # name -> spec, in column order
strategies = snakemake.params.strategies
extra_columns = {
    "avg": tables.named_average,  # the paper's uniform mean over the named columns
    "deployment": deployment.deployment_column(
        deployment.read_profile(snakemake.input.profile), subsets
    ),
}
folder = Path(snakemake.output[0]).parent
built = tables.build_tables(evaluations, strategies, list(subsets), extra_columns)
# One modality, or two columns showing the same tokens: said under the main table.
degenerate = pipeline.comparison_note(snakemake.config["datasets"][snakemake.wildcards.dataset])
# A strategy with list-valued parameters: which variant its row reports, per seed.
chosen = " ".join(
    f"Row {family}: per seed the variant best on validation, {describe_choice(seeds)}."
    for family, seeds in chosen_variants(evaluations).items()
)
built["main"].note = " ".join(filter(None, [degenerate, built["main"].note, chosen]))
written = {str(path) for table in built.values() for path in tables.write_table(table, folder)}
tested = claims.claims_table(
    evaluations, strategies, list(subsets), snakemake.params.weak_subsets, split="test"
)
written |= {str(path) for path in claims.write_claims(tested, folder)}
assert written == set(snakemake.output), f"written {sorted(written)} != declared outputs"
