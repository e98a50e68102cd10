"""Uniform (MaskSDM): one shared p ~ U(0, 1) per sample, the same for every modality."""

from __future__ import annotations

import torch
from torch import Tensor

from miam.core.masking.base import Strategy, device_of, register


@register
class Uniform(Strategy):
    """Per sample, one p ~ U(0, 1) shared by all modalities (the diagonal of the hypercube)."""

    name = "uniform"

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Tensor:
        shared = torch.rand((batch_size, 1), generator=generator, device=device_of(generator))
        return shared.expand(batch_size, self.n_modalities).contiguous()

    def expected_p(self) -> list[float]:
        return [0.5] * self.n_modalities
