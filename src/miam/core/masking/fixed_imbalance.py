"""The decisive study's controls: the Beta hypercube with MIAM's imbalance term held fixed.

MIAM sharpens each corner's Beta by x_m = r_m^lambda, learned from the unimodal scores during
training: Beta(1, kappa / x_m) where c_m = 0, Beta(kappa x_m, 1) where c_m = 1 (x_m < 1 masks
modality m less). Here x_m is fixed for the whole run: the `favoured` modalities get
1 / strength, the others strength, all then divided by their geometric mean. MIAM's r_m is a
ratio of scores each divided by its geometric mean, so prod r_m^lambda = 1 always: rescaled the
same way, the control moves masking between modalities without masking less overall, a push
MIAM itself could make. With `favoured` the weak modalities (a dataset's pre-registered
`weak_modalities`) and strength 5 (MIAM's clip, each r^lambda in [1/5, 5]), the favoured and
the other modalities' x differ by 25, the widest spread the clip allows: a positive control that
asks whether *any* modality-level push beats the Beta hypercube on a benchmark. Strength 1/5
pushes the other way (a negative control); strength 1 is the Beta hypercube.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from miam.core.masking.base import register
from miam.core.masking.hypercube import BetaHypercube


@register
class FixedImbalance(BetaHypercube):
    """Beta hypercube whose sharpness is pushed by a fixed factor per modality.

    Args:
        favoured: names of the modalities masked less, from `modality_names` (default
            "0".."M-1").
        strength: x of the other modalities over x of the favoured ones is strength^2, > 0
            (> 1 favours `favoured`); the product of all x is 1.
        kappa, corner_weights: as for the Beta hypercube.
    """

    name = "fixed_imbalance"

    def __init__(
        self,
        n_modalities: int,
        *,
        modality_names: Sequence[str] | None = None,
        favoured: Sequence[str],
        strength: float = 5.0,
        kappa: float = 10.0,
        corner_weights: str = "critical",
    ):
        super().__init__(
            n_modalities, modality_names=modality_names, kappa=kappa, corner_weights=corner_weights
        )
        if not strength > 0:
            raise ValueError(f"strength must be > 0, got {strength}")
        names = self.names()
        unknown = sorted(set(favoured) - set(names))
        if unknown:
            raise ValueError(f"favoured modalities {unknown} are not among the modalities {names}")
        self.favoured, self.strength = list(favoured), float(strength)

    def push(self) -> list[float]:
        """x_m: 1 / strength for a favoured modality, strength for the others, over their
        geometric mean (so that prod x_m = 1, as for MIAM's r_m^lambda)."""
        raw = [1.0 / self.strength if m in self.favoured else self.strength for m in self.names()]
        geometric_mean = math.exp(sum(math.log(x) for x in raw) / len(raw))
        return [x / geometric_mean for x in raw]

    def sharpness(self) -> tuple[list[float], list[float]]:
        push = self.push()
        return [self.kappa / x for x in push], [self.kappa * x for x in push]
