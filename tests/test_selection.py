"""Strategy variants: list-valued parameters expand to one run per combination, and a family row
reports, per seed, the variant best on validation; test scores never choose."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from miam.analysis import claims
from miam.analysis.selection import (
    VARIANT,
    choose_variant,
    chosen_variants,
    describe_choice,
    selected_rows,
)
from miam.workflow import pipeline

SUBSETS = ["tab", "sat"]
VARIANTS = ["miam[lam=0]", "miam[lam=1]", "miam[lam=3]"]


def config(**dataset) -> dict:
    return {
        "datasets": {"toy": {"reader": "geoplant", **dataset}},
        "strategies": {
            "uniform": {"kind": "uniform"},
            "miam": {"kind": "miam", "lam": [0, 1, 3], "kappa": [5.0, 10.0]},
            "dirichlet": {"kind": "dirichlet", "tokens_per_modality": [4, 16, 1]},
        },
    }


def test_list_valued_parameters_expand_to_named_variants():
    runs = pipeline.strategy_runs(config(), "toy")
    assert list(runs) == [
        "uniform",
        *[f"miam[lam={lam},kappa={kappa}]" for lam in (0, 1, 3) for kappa in (5, 10)],
        # A list given to a per-modality parameter is its value, not a sweep.
        "dirichlet",
    ]
    assert runs["miam[lam=3,kappa=10]"] == {"kind": "miam", "lam": 3, "kappa": 10.0}
    families = pipeline.variant_families(config(), "toy")
    assert list(families) == ["miam"] and len(families["miam"]) == 6
    # The family's selected row comes first, then its variants, in config order.
    rows = pipeline.strategy_rows(config(), "toy")
    assert rows[:3] == ["uniform", "miam", "miam[lam=0,kappa=5]"]


def test_a_dataset_trains_the_strategies_and_variants_it_names():
    chosen = config(strategies=["uniform", "miam[lam=1,kappa=5]", "miam[lam=3,kappa=5]"])
    assert list(pipeline.strategy_runs(chosen, "toy")) == [
        "uniform",
        "miam[lam=1,kappa=5]",
        "miam[lam=3,kappa=5]",
    ]
    assert pipeline.variant_families(chosen, "toy") == {
        "miam": ["miam[lam=1,kappa=5]", "miam[lam=3,kappa=5]"]
    }
    whole_family = config(strategies=["miam"])
    assert len(pipeline.strategy_runs(whole_family, "toy")) == 6


def test_an_empty_list_of_values_is_an_error():
    bad = config()
    bad["strategies"]["miam"]["lam"] = []
    with pytest.raises(ValueError, match=r"strategies\.miam\.lam: an empty list"):
        pipeline.strategy_runs(bad, "toy")


def evaluations(validation: dict[str, list[float]], test: dict[str, list[float]]) -> pd.DataFrame:
    """One seed's rows: per variant, its validation and test score on each subset."""
    records = [
        {
            "dataset": "toy",
            "model": variant,
            "seed": 0,
            "split": split,
            "family": "named",
            "subset": subset,
            "metric": "auroc",
            "value": value,
        }
        for split, scores in (("val", validation), ("test", test))
        for variant, values in scores.items()
        for subset, value in zip(SUBSETS, values, strict=True)
    ]
    return pd.DataFrame(records)


VALIDATION = {"miam[lam=0]": [0.70, 0.60], "miam[lam=1]": [0.72, 0.61], "miam[lam=3]": [0.69, 0.62]}
TEST = {"miam[lam=0]": [0.90, 0.90], "miam[lam=1]": [0.60, 0.60], "miam[lam=3]": [0.80, 0.80]}


def test_the_variant_best_on_validation_is_chosen_and_reports_its_test_rows():
    rows = evaluations(VALIDATION, TEST)
    # Mean validation over the named subsets: 0.65, 0.665, 0.655.
    assert choose_variant(rows, SUBSETS) == "miam[lam=1]"
    selected = selected_rows(rows, "miam", SUBSETS)
    assert set(selected["model"]) == {"miam"} and set(selected[VARIANT]) == {"miam[lam=1]"}
    test = selected[selected["split"] == "test"]
    assert test["value"].tolist() == TEST["miam[lam=1]"]


def test_test_scores_never_choose():
    """Every permutation of the test scores among the variants leaves the choice unchanged,
    even the one that gives the chosen variant the worst test score."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        shuffled = dict(zip(TEST, rng.permutation(list(TEST.values())).tolist(), strict=True))
        assert choose_variant(evaluations(VALIDATION, shuffled), SUBSETS) == "miam[lam=1]"


def test_ties_go_to_the_first_variant_and_missing_scores_are_refused():
    tied = {variant: [0.7, 0.6] for variant in VARIANTS}
    assert choose_variant(evaluations(tied, TEST), SUBSETS) == "miam[lam=0]"
    rows = evaluations(VALIDATION, TEST)
    missing = rows[~((rows["model"] == "miam[lam=3]") & (rows["subset"] == "sat"))]
    with pytest.raises(ValueError, match=r"miam\[lam=3\]"):
        choose_variant(missing[missing["split"] == "val"], SUBSETS)


def test_claims_name_the_variant_each_seed_used():
    frames = []
    for seed, best in enumerate(["miam[lam=1]", "miam[lam=3]", "miam[lam=1]"]):
        validation = {v: [0.9 if v == best else 0.5] * 2 for v in VARIANTS}
        rows = evaluations(validation, TEST).assign(seed=seed)
        uniform = rows[rows["model"] == "miam[lam=0]"].assign(model="uniform")
        frames += [selected_rows(rows, "miam", SUBSETS), uniform]
    both = pd.concat(frames, ignore_index=True)
    assert chosen_variants(both) == {"miam": {0: "miam[lam=1]", 1: "miam[lam=3]", 2: "miam[lam=1]"}}
    assert describe_choice({0: "a", 1: "b", 2: "a"}) == "a (seeds 0, 2), b (seed 1)"
    table = claims.claims_table(both, ["uniform", "miam"], SUBSETS, ["sat"])
    row = table.rows[(table.rows["a"] == "miam") & (table.rows["b"] == "uniform")].iloc[0]
    assert row["chosen"] == "miam = miam[lam=1] (seeds 0, 2), miam[lam=3] (seed 1)"
    assert "`miam` = miam[lam=1] (seeds 0, 2)" in claims.to_markdown(table)
