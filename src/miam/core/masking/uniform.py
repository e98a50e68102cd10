"""Uniform (MaskSDM): one p ~ U(0, 1) shared by every modality, per sample or per batch."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from miam.core.masking.base import Strategy, device_of, register


@register
class Uniform(Strategy):
    """One p ~ U(0, 1) shared by all modalities (the diagonal of the hypercube).

    Args:
        per_batch: False (default): one p per sample, so a batch mixes lightly and heavily
            masked samples. True: one p per batch, as MaskSDM-MEE's training code draws it (one
            `np.random.uniform` call per batch), so every sample of a batch is masked at the
            same rate. The default stays per sample: it is what this pipeline's uniform row
            has always been, and the study (docs/study.md) measures what the choice changes.
    """

    name = "uniform"

    def __init__(
        self,
        n_modalities: int,
        *,
        modality_names: Sequence[str] | None = None,
        per_batch: bool = False,
    ):
        super().__init__(n_modalities, modality_names=modality_names)
        if not isinstance(per_batch, bool):
            raise ValueError(f"per_batch must be true or false, got {per_batch!r}")
        self.per_batch = per_batch

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Tensor:
        rows = 1 if self.per_batch else batch_size
        shared = torch.rand((rows, 1), generator=generator, device=device_of(generator))
        return shared.expand(batch_size, self.n_modalities).contiguous()

    def expected_p(self) -> list[float]:
        return [0.5] * self.n_modalities
