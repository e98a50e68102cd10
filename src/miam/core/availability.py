"""Modality availability: one definition, used by the deployment strategy, score and profile.

A modality is *available* for a sample when at least one of its tokens is present. The data's
availability a_data,m is the share of a split's samples where m is available; a deployment
profile gives a target a_target,m ("measured": the data's own). Because the data already lacks
m on 1 - a_data,m of its samples, reaching the target needs only an *extra* drop of

    q_m = max(0, 1 - a_target,m / a_data,m)

on the samples that have m (q_m = 0 when the data never has m): dropping 1 - a_target on top of
the data's own missingness would count it twice (a becomes about a_data * a_target).

numpy only: the trainer on a bare GPU node uses it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

# The deployment target when a dataset's config names none: the data's own availability.
MEASURED = "measured"


def deployment_availability(dataset: Mapping) -> str | Mapping[str, float]:
    """A dataset config entry's `deployment.availability`: {modality: probability} or
    MEASURED (the default)."""
    return dataset.get("deployment", {}).get("availability", MEASURED)


def modality_availability(present_by_modality: Sequence[np.ndarray], rows=None) -> list[float]:
    """Per modality, the share of samples (`rows` of them; all by default) with a present token.

    present_by_modality: one (N, T_m) bool array per modality (e.g. `Modality.present`).
    """
    shares = []
    for present in present_by_modality:
        present = np.asarray(present)
        if rows is not None:
            present = present[rows]
        shares.append(float(present.reshape(len(present), -1).any(axis=1).mean()))
    return shares


def target_availability(
    setting: str | Mapping[str, float], data: Mapping[str, float]
) -> dict[str, float]:
    """The deployment target per modality, in the order of `data`.

    setting: "measured" (deploy where the data comes from: the data's own availability) or
        {modality: probability}, modalities not named always available.
    data: the data's availability per modality.
    """
    if setting == MEASURED:
        return dict(data)
    if isinstance(setting, str):
        raise ValueError(f"availability must be {MEASURED!r} or a mapping, got {setting!r}")
    unknown = sorted(set(setting) - set(data))
    if unknown:
        raise ValueError(f"availability of unknown modalities {unknown}; known: {list(data)}")
    return {m: float(setting.get(m, 1.0)) for m in data}


def extra_drop(target: Sequence[float], data: Sequence[float]) -> list[float]:
    """q_m = max(0, 1 - target_m / data_m): the drop that takes the data to the target."""
    return [max(0.0, 1.0 - t / d) if d > 0 else 0.0 for t, d in zip(target, data, strict=True)]
