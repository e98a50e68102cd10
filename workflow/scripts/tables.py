"""Write the paper's tables of one dataset (miam.analysis.tables) as CSV, Markdown and LaTeX, and
the claims table (miam.analysis.claims): each claim of the paper with its paired difference."""

import json
from pathlib import Path

from miam.analysis import claims, deployment_score, tables
from miam.analysis import summary as summary_text
from miam.runs.runlog import log_to
from miam.workflow import pipeline

log_to(snakemake.log[0])
evaluations = tables.load_evaluations(snakemake.input.evaluations)
subsets = snakemake.params.subsets  # name -> spec, in column order
strategies = snakemake.params.strategies
dataset = snakemake.wildcards.dataset
profile = deployment_score.read_profile(snakemake.input.profile)
extra_columns = {
    "avg": tables.named_average,  # the paper's uniform mean over the named columns
    "deployment": deployment_score.deployment_column(profile, subsets),
}
folder = Path(snakemake.output[0]).parent
built = tables.build_tables(evaluations, strategies, list(subsets), extra_columns)
# Under the main table: a degenerate comparison (one modality, two columns showing the same
# tokens), and what the deployment column means under this dataset's profile.
degenerate = pipeline.comparison_note(snakemake.config["datasets"][dataset])
deployed = deployment_score.profile_note(profile)
built["main"].note = " ".join(filter(None, [degenerate, deployed, built["main"].note]))
ladder = built["ablation_principles"]
ladder.note = " ".join(filter(None, [deployed, ladder.note]))
# Modalities that never arrived or arrived for few samples (the health gate's notes).
health = json.loads(Path(snakemake.input.quality).read_text()).get("notes", [])
for table in built.values():
    table.note = " ".join(filter(None, [table.note, *health]))
written = {
    str(path) for table in built.values() for path in tables.write_table(table, folder, dataset)
}
tested = claims.claims_table(
    evaluations, strategies, list(subsets), snakemake.params.weak_subsets, split="test"
)
written |= {str(path) for path in claims.write_claims(tested, folder)}
summary = Path(snakemake.output.summary)
summary.write_text(
    tables.html_page(
        f"summary ({dataset})",
        claims.summary_html(
            tested, built["main"], ["avg", "deployment", *snakemake.params.weak_subsets]
        )
        + tables.markdown_html(
            summary_text.quality_text(json.loads(Path(snakemake.input.quality).read_text()))
        ),
    ),
    encoding="utf-8",
)
written.add(str(summary))
assert written == set(snakemake.output), f"written {sorted(written)} != declared outputs"
