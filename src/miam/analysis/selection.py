"""The row of a strategy family: per seed, the variant chosen on validation.

A strategy with list-valued parameters trains one variant per combination of values
(miam.workflow.pipeline.strategy_variants). Its family row reports, for each seed separately,
the test scores of the variant with the best validation score, by the rule that picks a run's
kept epoch (`select_on: subsets`, miam.runs.training): the mean primary metric over the
dataset's named subsets on the validation split. Test scores never choose: `choose_variant`
reads only validation rows. Ties go to the first variant in config order.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from miam.analysis.tables import primary_metric

VARIANT = "variant"  # the column of evaluation rows naming the variant a family row comes from


def validation_scores(evaluations: pd.DataFrame, subsets: Sequence[str]) -> pd.Series:
    """Per model: the mean validation score over the named `subsets` (NaN if one is missing)."""
    metric = primary_metric(evaluations)
    rows = evaluations[
        (evaluations["split"] == "val")
        & (evaluations["metric"] == metric)
        & (evaluations["family"] == "named")
        & evaluations["subset"].isin(list(subsets))
    ]
    grouped = rows.groupby("model", sort=False)["value"]
    return grouped.mean().where(grouped.count() == len(subsets))


def choose_variant(evaluations: pd.DataFrame, subsets: Sequence[str]) -> str:
    """The variant (a `model` of `evaluations`, rows of one seed) with the best validation score."""
    if evaluations["seed"].nunique() != 1:
        raise ValueError("choose a variant per seed: the rows hold several seeds")
    scores = validation_scores(evaluations, subsets)
    variants = list(dict.fromkeys(evaluations["model"]))
    incomplete = [v for v in variants if pd.isna(scores.get(v))]
    if incomplete:
        raise ValueError(
            f"no validation score on every named subset for {', '.join(incomplete)}: "
            "cannot choose among the variants"
        )
    return max(variants, key=lambda variant: (scores[variant], -variants.index(variant)))


def selected_rows(evaluations: pd.DataFrame, family: str, subsets: Sequence[str]) -> pd.DataFrame:
    """The chosen variant's evaluation rows (every split), as the `family` row, with the
    variant's name in the `variant` column."""
    chosen = choose_variant(evaluations, subsets)
    rows = evaluations[evaluations["model"] == chosen].copy()
    rows["model"] = family
    rows[VARIANT] = chosen
    return rows


def chosen_variants(evaluations: pd.DataFrame) -> dict[str, dict[int, str]]:
    """Family row -> seed -> the variant it reports (from the `variant` column, if any)."""
    if VARIANT not in evaluations.columns:
        return {}
    rows = evaluations.dropna(subset=[VARIANT]).drop_duplicates(["model", "seed"])
    return {
        family: {int(row.seed): row.variant for row in group.itertuples()}
        for family, group in rows.groupby("model")
    }


def describe_choice(choices: dict[int, str]) -> str:
    """'miam[lam=3] (seeds 0, 2), miam[lam=1] (seed 1)'."""
    seeds_of: dict[str, list[int]] = {}
    for seed, variant in sorted(choices.items()):
        seeds_of.setdefault(variant, []).append(seed)
    return ", ".join(
        f"{variant} (seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))})"
        for variant, seeds in seeds_of.items()
    )
