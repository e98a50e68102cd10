"""The tables job of one dataset: the paper's tables, the claims and the summary page.

Notes said under the tables: a degenerate comparison (one modality, two columns showing the same
tokens), what the `deployment` column means under the dataset's profile, which variant a
strategy's row reports per seed (list-valued parameters), and the health gate's notes on
modalities that never arrived or arrived for few samples. The summary page ends with the
data-quality record (`miam.analysis.quality_section`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from miam.analysis import claims, deployment_score, tables
from miam.analysis.quality_section import quality_markdown
from miam.analysis.selection import chosen_variants, describe_choice


def write_dataset_tables(
    evaluations: pd.DataFrame,
    dataset: str,
    strategies: Sequence[str],
    subsets: Mapping[str, object],
    weak_subsets: Sequence[str],
    profile_path: str | Path,
    quality_path: str | Path,
    issues_path: str | Path,
    degenerate_note: str,
    folder: str | Path,
    summary_path: str | Path,
) -> set[str]:
    """Write every table, the claims and the summary page; return the paths written."""
    profile = deployment_score.read_profile(profile_path)
    quality = json.loads(Path(quality_path).read_text())
    extra_columns = {
        "avg": tables.named_average,  # the paper's uniform mean over the named columns
        "deployment": deployment_score.deployment_column(profile, subsets),
    }
    built = tables.build_tables(evaluations, strategies, list(subsets), extra_columns)
    deployed = deployment_score.profile_note(profile)
    chosen = " ".join(
        f"Row {family}: per seed the variant best on validation, {describe_choice(seeds)}."
        for family, seeds in chosen_variants(evaluations).items()
    )
    built["main"].note = " ".join(
        filter(None, [degenerate_note, deployed, built["main"].note, chosen])
    )
    ladder = built["ablation_principles"]
    ladder.note = " ".join(filter(None, [deployed, ladder.note]))
    for table in built.values():
        table.note = " ".join(filter(None, [table.note, *quality.get("notes", [])]))
    written = {
        str(path)
        for table in built.values()
        for path in tables.write_table(table, Path(folder), dataset)
    }
    tested = claims.claims_table(evaluations, strategies, list(subsets), weak_subsets, split="test")
    written |= {str(path) for path in claims.write_claims(tested, Path(folder))}
    page = claims.summary_html(tested, built["main"], ["avg", "deployment", *weak_subsets])
    issues = pd.read_csv(issues_path, dtype=str, keep_default_na=False)
    page += tables.markdown_html(quality_markdown(quality, issues))
    Path(summary_path).write_text(tables.html_page(f"summary ({dataset})", page), encoding="utf-8")
    return written | {str(summary_path)}
