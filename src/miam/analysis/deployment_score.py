"""Deployment score: a model's expected metric under the missingness its deployment will have.

The paper averages a model's scores uniformly over subsets. In production each modality m is
available with its own probability a_target,m (the deployment profile), independently of the
others, and a prediction is only asked for when at least one modality is there. The test
samples already lack m with probability 1 - a_data,m, so a subset S that shows m reaches m only
where the data has it. The score therefore weighs whole-modality subsets with the *extra*
availability k_m = 1 - q_m = min(1, a_target,m / a_data,m) (`miam.core.availability.extra_drop`),
never with a_target itself (which would count the data's missingness twice):

    score = sum over non-empty S of  w(S) * metric(S),
    w(S) = prod_{m in S} k_m * prod_{m not in S} (1 - k_m) / (1 - prod_m (1 - k_m))

computed exactly over the 2^M - 1 subsets for M <= 12 (`EXACT_MAX_MODALITIES`), and beyond
that by Monte Carlo over subsets drawn from w, with its standard error. Subset scores are looked
up by the names `miam.core.subsets.modality_subsets` gives them ('tabular+satellite', model order).

The profile (`deployment.availability` of a dataset's config) is a probability per modality
(modalities not named: 1.0) or "measured": deployment looks like the data, so k = 1 and the
score is the metric on the samples as they are (all modalities shown). Availability is measured
by `miam.core.availability.modality_availability` on each split, and the profile file records it.

This is the score, not the `deployment` masking strategy (`miam.core.masking.deployment`), which
trains with the same extra drop.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from miam.core.availability import (
    MEASURED,
    deployment_availability,
    extra_drop,
    modality_availability,
    target_availability,
)
from miam.core.split import split_indices
from miam.core.tokens import TokenSet

log = logging.getLogger(__name__)

EXACT_MAX_MODALITIES = 12
SAMPLED_DRAWS = 20_000  # standard error <= 0.5 / sqrt(20000) = 0.0035 for a metric in [0, 1]
GROUP_KEYS = ["dataset", "model", "seed", "split", "metric"]


def combination_name(modalities: list[str], available: np.ndarray) -> str:
    """'a+b' for the available modalities, in model order (as `modality_subsets` names them)."""
    return "+".join(m for m, keep in zip(modalities, available, strict=True) if keep)


def check_availability(availability: Mapping[str, float]) -> np.ndarray:
    probabilities = np.array(list(availability.values()), dtype=np.float64)
    if ((probabilities < 0) | (probabilities > 1)).any():
        raise ValueError(f"availabilities must be in [0, 1], got {dict(availability)}")
    if not probabilities.any():
        raise ValueError(f"no modality is ever available in {dict(availability)}")
    return probabilities


def subset_weights(availability: Mapping[str, float]) -> dict[str, float]:
    """w(S) for every non-empty whole-modality subset S, by name; they sum to 1.

    availability: modality -> probability, in model order.
    """
    modalities = list(availability)
    probabilities = check_availability(availability)
    # (2^M - 1, M): every non-empty combination of available modalities
    combinations = np.array(list(itertools.product([False, True], repeat=len(modalities))))[1:]
    weights = np.where(combinations, probabilities, 1 - probabilities).prod(axis=1)
    weights /= 1 - np.prod(1 - probabilities)
    return {
        combination_name(modalities, c): float(w)
        for c, w in zip(combinations, weights, strict=True)
    }


def exact_score(scores: Mapping[str, float], availability: Mapping[str, float]) -> float:
    """The weighted sum over all 2^M - 1 subsets; subsets of weight 0 need no score."""
    weights = {name: w for name, w in subset_weights(availability).items() if w > 0}
    missing = sorted(set(weights) - set(scores))
    if missing:
        raise KeyError(f"no score for subset(s) {missing[:5]} ({len(missing)} missing)")
    return float(sum(w * scores[name] for name, w in weights.items()))


def sample_subsets(
    availability: Mapping[str, float], n_draws: int, rng: np.random.Generator
) -> np.ndarray:
    """(n_draws, M) bool: independent availability conditioned on at least one modality.

    Drawn exactly, without rejection (which stalls when every modality is rare): modality j is
    available with probability a_j while none before it is and with a_j / P(any of j..M)
    otherwise, since the ones after it must then supply the required one.
    """
    probabilities = check_availability(availability)
    # P(at least one of modalities j..M available), j = 0..M-1
    any_from = 1 - np.cumprod((1 - probabilities)[::-1])[::-1]
    available = np.zeros((n_draws, len(probabilities)), dtype=bool)
    none_yet = np.ones(n_draws, dtype=bool)
    for j, p in enumerate(probabilities):
        conditional = p / any_from[j] if any_from[j] > 0 else 0.0
        available[:, j] = rng.random(n_draws) < np.where(none_yet, conditional, p)
        none_yet &= ~available[:, j]
    return available


def sampled_score(
    scores: Mapping[str, float],
    availability: Mapping[str, float],
    n_draws: int = SAMPLED_DRAWS,
    seed: int = 0,
) -> tuple[float, float]:
    """Monte Carlo estimate of the deployment score and its standard error, for any M."""
    modalities = list(availability)
    available = sample_subsets(availability, n_draws, np.random.default_rng(seed))
    names, counts = np.unique(
        [combination_name(modalities, row) for row in available], return_counts=True
    )
    missing = sorted(set(names) - set(scores))
    if missing:
        raise KeyError(f"no score for sampled subset(s) {missing[:5]} ({len(missing)} missing)")
    values = np.repeat([float(scores[name]) for name in names], counts)
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(n_draws))


def deployment_score(
    scores: Mapping[str, float], availability: Mapping[str, float], seed: int = 0
) -> tuple[float, float]:
    """(score, standard error): exact (error 0) for M <= 12 modalities, sampled beyond."""
    if len(availability) <= EXACT_MAX_MODALITIES:
        return exact_score(scores, availability), 0.0
    return sampled_score(scores, availability, seed=seed)


def deployment_scores(
    evaluations: pd.DataFrame,
    profile: Mapping,
    aliases: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Deployment score of every (dataset, model, seed, split, metric) of tidy eval rows.

    evaluations: rows (dataset, model, seed, split, family, subset, metric, value) of many
        models and seeds; rows of subsets that are not whole-modality combinations are ignored.
    profile: what `deployment_profile` wrote; each split is weighed with its own extra
        availability (`extra_availability`).
    aliases: subset name -> combination name for named subsets that show whole modalities
        under another name (e.g. 'all'; see `combination_aliases`), so an oracle trained on
        them gets a score too.
    Returns rows (dataset, model, seed, split, metric, value, standard_error); a group that
    lacks a subset the profile gives weight is left out (logged), e.g. oracles without every
    combination.
    """
    frame = evaluations.assign(subset=evaluations["subset"].replace(dict(aliases or {})))
    keys = [k for k in GROUP_KEYS if k in frame.columns]
    # A combination evaluated twice (a named subset and its `modalities` twin) has one score.
    frame = frame.drop_duplicates([*keys, "subset"])
    rows = []
    for group, scores in frame.groupby(keys, sort=True):
        where = dict(zip(keys, group, strict=True))
        availability = extra_availability(profile, where["split"])
        try:
            value, error = deployment_score(
                dict(zip(scores["subset"], scores["value"], strict=True)), availability
            )
        except KeyError as missing:
            log.info("no deployment score for %s: %s", where, missing)
            continue
        rows.append({**where, "value": value, "standard_error": error})
    return pd.DataFrame(rows, columns=[*keys, "value", "standard_error"])


def combination_aliases(named_subsets: Mapping[str, dict], modalities: list[str]) -> dict[str, str]:
    """Named subsets that show whole modalities -> their combination name ('all' -> 'a+b+c')."""
    return {
        name: combination_name(modalities, [m in spec for m in modalities])
        for name, spec in named_subsets.items()
        if all(selection == "all" for selection in spec.values())
    }


def deployment_column(
    profile: Mapping, named_subsets: Mapping[str, dict] | None = None
) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """A `tables` extra column: eval rows -> per-seed (model, seed, value) deployment scores.

    profile: what `deployment_profile` wrote. named_subsets: the dataset's named subsets, so
    that whole-modality ones under other names (an oracle's 'all') count as their combination.
    """
    aliases = combination_aliases(named_subsets or {}, list(profile["target"]))

    def column(evaluations: pd.DataFrame) -> pd.DataFrame:
        return deployment_scores(evaluations, profile, aliases)[["model", "seed", "value"]]

    return column


def read_profile(path: str | Path) -> dict:
    """A profile file the workflow wrote (see `deployment_profile`)."""
    return json.loads(Path(path).read_text())


def extra_availability(profile: Mapping, split: str) -> dict[str, float]:
    """k_m = min(1, a_target,m / a_data,m) on `split`, per modality in model order."""
    data = profile["data"][split]
    target = data if profile["source"] == MEASURED else profile["target"]
    drop = extra_drop([target[m] for m in data], list(data.values()))
    return {m: 1.0 - q for m, q in zip(data, drop, strict=True)}


def deployment_profile(dataset: dict, tokens: str | Path | TokenSet, split: str | Path) -> dict:
    """{"source", "target": {modality: a_target}, "data": {split: {modality: a_data}}}.

    dataset: the dataset's config entry; its `deployment.availability` is a mapping (modalities
    not named are always available) or "measured" (the default): the target is then each
    split's own availability, recorded here as the training split's for reference.
    """
    token_set = tokens if isinstance(tokens, TokenSet) else TokenSet.load(tokens)
    present = [m.present for m in token_set.modalities]
    data = {
        name: dict(zip(token_set.modality_names, modality_availability(present, rows), strict=True))
        for name, rows in split_indices(split).items()
    }
    setting = deployment_availability(dataset)
    return {
        "source": MEASURED if setting == MEASURED else "config",
        "target": target_availability(setting, data["train"]),
        "data": data,
    }


def profile_note(profile: Mapping) -> str:
    """What the `deployment` column and the `deployment` strategy mean under this profile, for
    the note under a table."""
    if profile["source"] == "measured":
        return (
            "`deployment` uses the data's own availability (measured): deployment looks like "
            "the test samples as they are, so the column equals the one with every modality "
            "shown. The "
            "`deployment` strategy, trained for this profile, masks nothing beyond what the data "
            "lacks (q = 0 for every modality): it trains as no masking."
        )
    target = ", ".join(f"{m} {a:g}" for m, a in profile["target"].items())
    return (
        f"`deployment`: the expected score when each modality is available independently with "
        f"the profile's probability ({target}). The `deployment` strategy trains for it: it "
        "hides modality m with q = max(0, 1 − a_target / a_data) on top of what the data lacks."
    )
