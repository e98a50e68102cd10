"""Constant (MAE style): the same masking probability for every modality and sample."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from miam.core.masking.base import Strategy, check_probability, device_of, register


@register
class Constant(Strategy):
    """p_m = rate for every modality and sample.

    Args:
        rate: masking probability of every token (MAE uses 0.75).
    """

    name = "constant"

    def __init__(
        self, n_modalities: int, *, modality_names: Sequence[str] | None = None, rate: float = 0.75
    ):
        super().__init__(n_modalities, modality_names=modality_names)
        self.rate = check_probability("rate", rate)

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Tensor:
        shape = (batch_size, self.n_modalities)
        return torch.full(shape, self.rate, dtype=torch.float32, device=device_of(generator))

    def expected_p(self) -> list[float]:
        return [self.rate] * self.n_modalities
