"""Deployment-distribution masking: drop modalities as often as they are missing in deployment.

Each modality m is dropped whole (p = 1) independently with probability 1 - availability_m, the
share of the target population that lacks it; never all at once (one is then kept at random).
Kept modalities are masked at `token_rate` (default 0: shown whole), for partial intra-modality
masking on top. These drops come on top of the data's own missingness, which `token_visibility`
always applies.

When the deployment population looks like the training data, `measure_availability` estimates
availability from the training tokens' own `present` flags; the trainer calls it when the config
says `availability: measured` and passes the resulting list on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from miam.masking.base import Strategy, check_probability, device_of, keep_one_modality, register


def measure_availability(present_by_modality: Sequence[np.ndarray | Tensor]) -> list[float]:
    """Per modality, the fraction of samples with at least one present token.

    Args:
        present_by_modality: one (N, T_m) bool array per modality (e.g. `Modality.present`).
    """
    return [
        float(np.asarray(present).reshape(len(present), -1).any(axis=1).mean())
        for present in present_by_modality
    ]


@register
class Deployment(Strategy):
    """Drop each modality with 1 - availability_m; see the module docstring.

    Args:
        availability: probability that each modality is available at deployment, one per
            modality (required; see `measure_availability` for "measured").
        token_rate: masking probability of the tokens of a kept modality.
    """

    name = "deployment"

    def __init__(
        self,
        n_modalities: int,
        *,
        modality_names: Sequence[str] | None = None,
        availability: Sequence[float],
        token_rate: float = 0.0,
    ):
        super().__init__(n_modalities, modality_names=modality_names)
        if isinstance(availability, str):
            raise ValueError(
                f"availability must be a list of {n_modalities} probabilities, got "
                f"{availability!r}; for 'measured', pass measure_availability(present) instead"
            )
        if len(availability) != n_modalities:
            raise ValueError(f"{len(availability)} availabilities for {n_modalities} modalities")
        self.availability = [check_probability("availability", a) for a in availability]
        self.token_rate = check_probability("token_rate", token_rate)

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Tensor:
        device = device_of(generator)
        availability = torch.tensor(self.availability, device=device)
        draw = torch.rand((batch_size, self.n_modalities), generator=generator, device=device)
        dropped = keep_one_modality(draw >= availability, generator)
        return torch.where(dropped, 1.0, self.token_rate)
