"""The deployment score: expected metric under independent modality availability."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import toy_tokens, write_toy

from miam.analysis import tables
from miam.analysis.deployment_score import (
    EXACT_MAX_MODALITIES,
    combination_aliases,
    deployment_column,
    deployment_profile,
    deployment_score,
    deployment_scores,
    exact_score,
    extra_availability,
    sample_subsets,
    sampled_score,
    subset_weights,
)
from miam.core.availability import extra_drop, modality_availability, target_availability
from miam.core.masking import make_strategy, token_visibility
from miam.core.subsets import modality_subsets

SCORES = {"a": 0.6, "b": 0.7, "c": 0.5, "a+b": 0.8, "a+c": 0.65, "b+c": 0.75, "a+b+c": 0.9}
PROFILE = {"a": 0.8, "b": 0.5, "c": 0.3}


def profile_file(target, data=None, source="config"):
    """What `deployment_profile` writes; the data has every modality everywhere by default."""
    data = data or dict.fromkeys(target, 1.0)
    return {"source": source, "target": target, "data": {"val": data, "test": data}}


def random_scores(modalities: list[str], seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    return {name: float(rng.uniform(0.4, 0.95)) for name in modality_subsets(modalities)}


def test_exact_score_is_the_hand_computed_weighted_sum():
    # P(subset) = prod of a_m for present and (1 - a_m) for absent, over P(not empty) = 1 - .2*.5*.7
    weight = {
        "a": 0.8 * 0.5 * 0.7,
        "b": 0.2 * 0.5 * 0.7,
        "c": 0.2 * 0.5 * 0.3,
        "a+b": 0.8 * 0.5 * 0.7,
        "a+c": 0.8 * 0.5 * 0.3,
        "b+c": 0.2 * 0.5 * 0.3,
        "a+b+c": 0.8 * 0.5 * 0.3,
    }
    expected = sum(weight[s] * SCORES[s] for s in SCORES) / (1 - 0.2 * 0.5 * 0.7)
    assert exact_score(SCORES, PROFILE) == pytest.approx(expected, abs=1e-12)
    assert sum(subset_weights(PROFILE).values()) == pytest.approx(1.0, abs=1e-12)
    assert deployment_score(SCORES, PROFILE) == (pytest.approx(expected, abs=1e-12), 0.0)


def test_always_available_modalities_reduce_to_one_subset_or_a_uniform_average():
    assert exact_score(SCORES, {"a": 1.0, "b": 1.0, "c": 1.0}) == pytest.approx(0.9)
    # Only `b` is ever there: subsets without it, or with others, need no score.
    assert exact_score({"b": 0.7}, {"a": 0.0, "b": 0.4, "c": 0.0}) == pytest.approx(0.7)
    # Availability 1/2 everywhere: every non-empty subset equally likely.
    half = exact_score(SCORES, {"a": 0.5, "b": 0.5, "c": 0.5})
    assert half == pytest.approx(np.mean(list(SCORES.values())))


def test_sampled_subsets_follow_independent_availability_without_the_empty_one():
    n = 40_000
    available = sample_subsets(PROFILE, n, np.random.default_rng(0))
    assert available.any(axis=1).all()
    weights = subset_weights(PROFILE)
    names = ["+".join(m for m, keep in zip(PROFILE, row, strict=True) if keep) for row in available]
    shares = pd.Series(names).value_counts(normalize=True)
    for name, weight in weights.items():
        # 5 binomial standard errors of a share estimated from n draws
        assert abs(shares.get(name, 0.0) - weight) < 5 * np.sqrt(weight * (1 - weight) / n)


@pytest.mark.parametrize("n_modalities", [3, 6])
def test_sampled_estimate_agrees_with_the_exact_score_within_its_error(n_modalities):
    modalities = [f"m{i}" for i in range(n_modalities)]
    profile = dict(zip(modalities, np.linspace(0.1, 0.95, n_modalities), strict=True))
    scores = random_scores(modalities, seed=n_modalities)
    estimate, error = sampled_score(scores, profile, n_draws=5000, seed=1)
    assert 0 < error < 0.01
    assert abs(estimate - exact_score(scores, profile)) < 4 * error


def test_beyond_twelve_modalities_the_score_is_sampled_with_an_error():
    modalities = [f"m{i}" for i in range(EXACT_MAX_MODALITIES + 1)]
    profile = dict.fromkeys(modalities, 0.2)
    # Score = number of modalities shown / M: its exact expectation is known in closed form.
    scores = {
        name: (name.count("+") + 1) / len(modalities) for name in modality_subsets(modalities)
    }
    value, error = deployment_score(scores, profile)
    expected = 0.2 / (1 - 0.8 ** len(modalities))  # E[count] / M given at least one
    assert error > 0
    assert abs(value - expected) < 4 * error


def test_missing_subsets_and_impossible_profiles_are_errors():
    with pytest.raises(KeyError, match="a\\+b\\+c"):
        exact_score({k: v for k, v in SCORES.items() if k != "a+b+c"}, PROFILE)
    with pytest.raises(ValueError, match="ever available"):
        subset_weights({"a": 0.0, "b": 0.0})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        subset_weights({"a": 1.5})


def eval_rows(model: str, seed: int, scores: dict[str, float], family="modalities"):
    return pd.DataFrame(
        {
            "dataset": "toy",
            "model": model,
            "seed": seed,
            "split": "test",
            "family": family,
            "subset": list(scores),
            "metric": "auroc",
            "value": list(scores.values()),
        }
    )


def test_deployment_scores_of_many_models_and_seeds():
    doubled = {k: v / 2 for k, v in SCORES.items()}
    oracle = {"a": 0.6, "b": 0.7, "c": 0.5, "ab": 0.8, "a+c": 0.65, "b+c": 0.75, "all": 0.9}
    evaluations = pd.concat(
        [
            eval_rows("miam", 0, SCORES),
            eval_rows("miam", 1, doubled),
            eval_rows("miam", 0, {"bio1 only": 0.1}, family="named"),  # not a combination
            eval_rows("oracle", 0, oracle, family="named"),
            eval_rows("partial", 0, {"a": 0.5}),  # lacks subsets the profile weighs
        ]
    )
    aliases = {"ab": "a+b", "all": "a+b+c"}
    scores = deployment_scores(evaluations, profile_file(PROFILE), aliases).set_index(
        ["model", "seed"]
    )
    assert list(scores.columns) == ["dataset", "split", "metric", "value", "standard_error"]
    assert sorted(scores.index) == [("miam", 0), ("miam", 1), ("oracle", 0)]
    assert scores.loc[("miam", 0), "value"] == pytest.approx(exact_score(SCORES, PROFILE))
    assert scores.loc[("miam", 1), "value"] == pytest.approx(exact_score(SCORES, PROFILE) / 2)
    assert scores.loc[("oracle", 0), "value"] == pytest.approx(exact_score(SCORES, PROFILE))
    assert (scores["standard_error"] == 0).all()


def test_named_whole_modality_subsets_alias_their_combination():
    named = {
        "bio1": {"a": ["bio1"]},
        "all": {"a": "all", "b": "all", "c": "all"},
        "ac": {"c": "all", "a": "all"},
    }
    assert combination_aliases(named, ["a", "b", "c"]) == {"all": "a+b+c", "ac": "a+c"}


def test_availability_is_the_share_of_samples_with_any_present_token():
    present_tab = np.array([[True, False], [False, False], [True, True], [False, True]])
    present_sat = np.zeros((4, 3), dtype=bool)
    assert modality_availability([present_tab, present_sat]) == [0.75, 0.0]
    assert modality_availability([present_tab, present_sat], rows=[1, 2]) == [0.5, 0.0]


def test_extra_drop_does_not_count_the_data_missingness_twice():
    # Present in 62 % of the data, wanted in 50 %: drop 1 - 0.5 / 0.62 = 0.19355 of those that
    # have it. Wanted at 62 % or more: nothing to drop. Never in the data: nothing to drop.
    assert extra_drop([0.5, 0.62, 0.9, 0.3], [0.62, 0.62, 0.62, 0.0]) == pytest.approx(
        [0.193548, 0.0, 0.0, 0.0], abs=1e-6
    )
    assert target_availability("measured", {"a": 0.62}) == {"a": 0.62}
    assert target_availability({"b": 0.3}, {"a": 0.62, "b": 1.0}) == {"a": 1.0, "b": 0.3}
    with pytest.raises(ValueError, match="unknown modalities"):
        target_availability({"z": 0.3}, {"a": 0.62})


def test_deployment_strategy_trains_at_the_target_availability_not_below_it():
    # Modality 0 is present in 62 % of the samples; the target is 50 %. Modality 1 is always
    # there and always wanted, so it is never dropped (and no row is ever all-dropped).
    n = 40_000
    rng = np.random.default_rng(0)
    present = torch.from_numpy(
        np.concatenate([(rng.random((n, 1)) < 0.62).repeat(3, 1), np.ones((n, 2), bool)], 1)
    )
    strategy = make_strategy(
        "deployment", 2, availability=[0.5, 1.0], data_availability=[0.62, 1.0]
    )
    draws = torch.Generator().manual_seed(0)
    visible = token_visibility(strategy.sample(n, draws), [3, 2], present, draws)
    trained_availability = visible[:, :3].any(dim=1).float().mean().item()
    assert trained_availability == pytest.approx(0.5, abs=5 * np.sqrt(0.25 / n))
    assert strategy.drop_probabilities() == pytest.approx([1 - 0.5 / 0.62, 0.0])


def test_profile_records_target_and_per_split_data_availability(tmp_path):
    tokens_dir, split = write_toy(tmp_path)
    tokens = toy_tokens()  # what write_toy saved
    configured = deployment_profile(
        {"deployment": {"availability": {"ts": 0.3}}}, tokens_dir, split
    )
    assert configured["source"] == "config"
    assert configured["target"] == {"tab": 1.0, "ts": 0.3, "img": 1.0}
    assert set(configured["data"]) == {"train", "val", "test"}
    json.dumps(configured)  # the workflow writes it as JSON
    split_rows = pd.read_csv(split)
    test_rows = np.flatnonzero(split_rows["split"].to_numpy() == "test")
    expected_ts = float(tokens.modality("ts").present[test_rows].any(axis=1).mean())
    assert configured["data"]["test"]["ts"] == pytest.approx(expected_ts)
    measured = deployment_profile({}, tokens_dir, split)
    assert measured["source"] == "measured"
    assert measured["target"] == measured["data"]["train"]


def test_score_weighs_subsets_by_the_extra_availability_on_the_evaluated_split():
    # a: data 1.0, target 0.8 -> k 0.8; b: data 0.5 = target -> k 1; c: data 0.6, target 0.3 ->
    # k 0.5. Weighing with the targets themselves would give b about 0.5 * 0.5.
    profile = profile_file({"a": 0.8, "b": 0.5, "c": 0.3}, {"a": 1.0, "b": 0.5, "c": 0.6})
    assert extra_availability(profile, "test") == pytest.approx({"a": 0.8, "b": 1.0, "c": 0.5})
    expected = (0.8 * 0.5 * SCORES["a+b+c"] + 0.2 * 0.5 * SCORES["b+c"]) + (
        0.8 * 0.5 * SCORES["a+b"] + 0.2 * 0.5 * SCORES["b"]
    )
    scores = deployment_scores(eval_rows("miam", 0, SCORES), profile)
    assert scores["value"].item() == pytest.approx(expected)


def test_measured_profile_scores_the_samples_as_they_are():
    data = {"a": 1.0, "b": 0.4, "c": 0.7}
    profile = profile_file(data, data, source="measured")
    scores = deployment_scores(eval_rows("miam", 0, SCORES), profile)
    assert scores["value"].item() == pytest.approx(SCORES["a+b+c"])


def test_deployment_is_one_extra_column_of_the_main_table():
    named = {"a": {"a": "all"}, "all": {"a": "all", "b": "all", "c": "all"}}
    evaluations = pd.concat(
        [
            eval_rows(model, seed, {k: v - 0.1 * seed for k, v in SCORES.items()})
            for model in ["miam", "late_fusion"]
            for seed in [0, 1]
        ]
    )
    evaluations = pd.concat(
        [evaluations, evaluations[evaluations.subset.isin(["a", "a+b+c"])].assign(family="named")]
    )
    evaluations.loc[evaluations.family.eq("named") & evaluations.subset.eq("a+b+c"), "subset"] = (
        "all"
    )
    extra = {
        "avg": tables.named_average,
        "deployment": deployment_column(profile_file(PROFILE), named),
    }
    table = tables.main_table(evaluations, ["miam"], list(named), extra)
    assert table.rows == ["miam", "late_fusion"]
    assert table.columns == ["a", "all", "avg", "deployment"]
    mean, std = table.cell("late_fusion", "deployment")
    exact = exact_score(SCORES, PROFILE)
    assert mean == pytest.approx(100 * (exact - 0.05))  # seeds 0 and 1: exact, exact - 0.1
    assert std == pytest.approx(100 * np.std([exact, exact - 0.1], ddof=1))
