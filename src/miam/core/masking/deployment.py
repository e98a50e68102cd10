"""Deployment-distribution masking: train with the missingness the deployment will have.

Each modality m is available at deployment with probability a_target,m (the deployment
profile). The training data already lacks m on 1 - a_data,m of its samples, and
`token_visibility` always hides what is missing, so m is dropped whole (p = 1) only with the
*extra* probability q_m = max(0, 1 - a_target,m / a_data,m) (`miam.core.availability.extra_drop`),
independently per modality, never all at once (one is then kept at random). Kept modalities are
masked at `token_rate` (default 0: shown whole), for partial intra-modality masking on top.

With a measured profile (deployment looks like the data) q = 0: the model trains on the data's
own missingness alone, which is what it will meet.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from miam.core.availability import extra_drop
from miam.core.masking.base import (
    Strategy,
    check_probability,
    device_of,
    keep_one_modality,
    register,
)


@register
class Deployment(Strategy):
    """Drop each modality with q_m = max(0, 1 - availability_m / data_availability_m).

    Args:
        availability: target probability that each modality is available at deployment, one
            per modality (the trainer resolves "measured" and per-modality mappings to this list
            with `miam.core.availability.target_availability`).
        data_availability: share of training samples that have each modality (default: all 1,
            i.e. the data has every modality everywhere).
        token_rate: masking probability of the tokens of a kept modality.
    """

    name = "deployment"

    def __init__(
        self,
        n_modalities: int,
        *,
        modality_names: Sequence[str] | None = None,
        availability: Sequence[float],
        data_availability: Sequence[float] | None = None,
        token_rate: float = 0.0,
    ):
        super().__init__(n_modalities, modality_names=modality_names)
        if isinstance(availability, str):
            raise ValueError(
                f"availability must be a list of {n_modalities} probabilities, got "
                f"{availability!r}; resolve 'measured' with "
                "miam.core.availability.target_availability"
            )
        data_availability = [1.0] * n_modalities if data_availability is None else data_availability
        for name, values in (
            ("availability", availability),
            ("data_availability", data_availability),
        ):
            if len(values) != n_modalities:
                raise ValueError(f"{len(values)} {name} values for {n_modalities} modalities")
        self.availability = [check_probability("availability", a) for a in availability]
        self.data_availability = [
            check_probability("data_availability", a) for a in data_availability
        ]
        self.token_rate = check_probability("token_rate", token_rate)

    def drop_probabilities(self) -> list[float]:
        """q_m, the extra whole-modality drop."""
        return extra_drop(self.availability, self.data_availability)

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Tensor:
        device = device_of(generator)
        drop = torch.tensor(self.drop_probabilities(), device=device)
        draw = torch.rand((batch_size, self.n_modalities), generator=generator, device=device)
        dropped = keep_one_modality(draw < drop, generator)
        return torch.where(dropped, 1.0, self.token_rate)

    def log_values(self) -> dict[str, float]:
        return self.per_modality("drop_prob", self.drop_probabilities())
