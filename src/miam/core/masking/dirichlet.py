"""Dirichlet (4M, apple/ml-4m fourm/data/masking.py): a visible-token budget split by modality.

Per sample, a symmetric Dirichlet(1) draw w splits a fixed budget of visible tokens,
`visible_fraction` of all tokens, across modalities; modality m keeps w_m * budget of its T_m
tokens, capped at all of them (4M caps at the modality's size too), so
p_m = 1 - min(1, w_m * visible_fraction * T_total / T_m). With equal token counts and the
default budget of 1/M this is p_m = 1 - w_m: a visible ratio near 1/M, as the MIAM paper describes
the baseline.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from miam.core.masking.base import Strategy, check_probability, device_of, register


@register
class Dirichlet(Strategy):
    """Visible tokens split by Dirichlet(1, ..., 1); see the module docstring.

    Args:
        tokens_per_modality: T_m per modality; None treats all modalities as equally long.
        visible_fraction: the visible budget as a share of all tokens; None means 1/M.
    """

    name = "dirichlet"

    def __init__(
        self,
        n_modalities: int,
        *,
        modality_names: Sequence[str] | None = None,
        tokens_per_modality: Sequence[int] | None = None,
        visible_fraction: float | None = None,
    ):
        super().__init__(n_modalities, modality_names=modality_names)
        if tokens_per_modality is not None:
            tokens_per_modality = [int(t) for t in tokens_per_modality]
            if len(tokens_per_modality) != n_modalities or min(tokens_per_modality) < 1:
                raise ValueError(
                    f"tokens_per_modality {tokens_per_modality} needs {n_modalities} counts >= 1"
                )
        self.tokens_per_modality = tokens_per_modality
        if visible_fraction is not None:
            visible_fraction = check_probability("visible_fraction", visible_fraction)
        self.visible_fraction = visible_fraction

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Tensor:
        device = device_of(generator)
        tokens = torch.tensor(self.tokens_per_modality or [1] * self.n_modalities, device=device)
        fraction = self.visible_fraction
        budget = (1 / self.n_modalities if fraction is None else fraction) * tokens.sum()
        # Dirichlet(1, ..., 1) is a normalised vector of Exponential(1) draws.
        uniform = torch.rand((batch_size, self.n_modalities), generator=generator, device=device)
        exponentials = -torch.log1p(-uniform)  # inverse CDF; 1 - U > 0, so always finite
        shares = exponentials / exponentials.sum(dim=1, keepdim=True).clamp_min(1e-30)
        visible_share = (shares * budget / tokens).clamp(max=1.0)
        return 1.0 - visible_share
