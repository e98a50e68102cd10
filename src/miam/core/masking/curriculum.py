"""Curriculum masking: the masking rate rises over training (seed 000's production schedule).

rate(t) goes from `start_rate` to `end_rate` over the first `ramp_fraction` of training, then
stays at `end_rate`; t = epoch / (n_epochs - 1) runs from 0 at the first epoch to 1 at the last.
Each sample draws one p shared by all modalities, uniform on the widest interval around rate(t)
inside [0, 1]: p ~ U(rate - h, rate + h), h = min(rate, 1 - rate). So E[p] = rate(t) exactly,
while samples still see varied amounts of masking (U(0, 2 rate) while rate <= 1/2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from miam.core.masking.base import Strategy, check_probability, device_of, register

SCHEDULES = ("linear", "cosine")


@register
class Curriculum(Strategy):
    """Shared per-sample p around a rate that rises over training; see the module docstring.

    Args:
        start_rate: mean masking probability at the first epoch.
        end_rate: mean masking probability at the end of the ramp.
        ramp_fraction: share of training over which the rate moves; 0 jumps straight to end_rate.
        schedule: "linear" or "cosine" (half-cosine ease-in-out) interpolation.
    """

    name = "curriculum"

    def __init__(
        self,
        n_modalities: int,
        *,
        modality_names: Sequence[str] | None = None,
        start_rate: float = 0.1,
        end_rate: float = 0.75,
        ramp_fraction: float = 0.8,
        schedule: str = "linear",
    ):
        super().__init__(n_modalities, modality_names=modality_names)
        self.start_rate = check_probability("start_rate", start_rate)
        self.end_rate = check_probability("end_rate", end_rate)
        self.ramp_fraction = check_probability("ramp_fraction", ramp_fraction)
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule {schedule!r} not in {SCHEDULES}")
        self.schedule = schedule

    def rate(self) -> float:
        """The current mean masking probability (start_rate until `set_progress` is called)."""
        if self.n_epochs is None:
            return self.start_rate
        progress = self.epoch / max(1, self.n_epochs - 1)
        ramp = 1.0 if progress >= self.ramp_fraction else progress / self.ramp_fraction
        if self.schedule == "cosine":
            ramp = (1.0 - math.cos(math.pi * ramp)) / 2.0
        return self.start_rate + (self.end_rate - self.start_rate) * ramp

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Tensor:
        rate = self.rate()
        half_width = min(rate, 1.0 - rate)
        shared = torch.rand((batch_size, 1), generator=generator, device=device_of(generator))
        p = (rate - half_width + 2.0 * half_width * shared).clamp(0.0, 1.0)
        return p.expand(batch_size, self.n_modalities).contiguous()

    def expected_p(self) -> list[float]:
        return [self.rate()] * self.n_modalities

    def log_values(self) -> dict[str, float]:
        return {"rate": self.rate()}
