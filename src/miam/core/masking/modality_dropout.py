"""Modality dropout (ModDrop, Neverova et al. 2015): only the corners of the hypercube."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from miam.core.masking.base import (
    Strategy,
    check_probability,
    device_of,
    keep_one_modality,
    register,
)


@register
class ModalityDropout(Strategy):
    """Each modality is dropped (p=1) independently with `rate`, else kept whole (p=0).

    Never all: when every modality is dropped, one chosen uniformly at random is kept.

    Args:
        rate: probability that a modality is dropped.
    """

    name = "modality_dropout"

    def __init__(
        self, n_modalities: int, *, modality_names: Sequence[str] | None = None, rate: float = 0.1
    ):
        super().__init__(n_modalities, modality_names=modality_names)
        self.rate = check_probability("rate", rate)

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Tensor:
        shape = (batch_size, self.n_modalities)
        dropped = torch.rand(shape, generator=generator, device=device_of(generator)) < self.rate
        return keep_one_modality(dropped, generator).float()
