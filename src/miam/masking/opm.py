"""OPM (Wei et al., TPAMI 2024, GeWu-Lab/BML_TPAMI2024): drop the modalities that lead.

From the latest unimodal scores s, modality m's discrepancy is
r_m = tanh(relu(mean_{m' != m} s_m / s_m' - 1)) (for M = 2, simply s_m / s_other), and its drop
probability is q_m = q_base * (1 + lam * r_m) if r_m > 0 else 0, clipped to [0, 1]. The weakest
modality has r = 0 and is never dropped. On each sample OPM applies with probability
`apply_prob`; when it applies, each modality is dropped whole (p = 1) with q_m, never all of them.
Nothing is dropped during the first `warmup_epochs` epochs, nor before the first `observe`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from miam.masking.base import Strategy, check_probability, device_of, keep_one_modality, register

# Scores are floored here so ratios stay finite (scores are AUC or accuracy, so positive).
_SCORE_FLOOR = 1e-6


@register
class Opm(Strategy):
    """On-the-fly prediction modulation; see the module docstring.

    Args:
        q_base: drop probability of a modality that leads by an infinitesimal margin.
        lam: how much the drop probability grows with the discrepancy.
        apply_prob: probability that OPM acts on a given sample at all.
        warmup_epochs: epochs at the start of training with no dropping.
    """

    name = "opm"
    state_fields = (*Strategy.state_fields, "scores")

    def __init__(
        self,
        n_modalities: int,
        *,
        modality_names: Sequence[str] | None = None,
        q_base: float = 0.5,
        lam: float = 0.5,
        apply_prob: float = 0.7,
        warmup_epochs: int = 5,
    ):
        super().__init__(n_modalities, modality_names=modality_names)
        self.q_base = check_probability("q_base", q_base)
        if lam < 0:
            raise ValueError(f"lam must be >= 0, got {lam}")
        self.lam = float(lam)
        self.apply_prob = check_probability("apply_prob", apply_prob)
        if warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be >= 0, got {warmup_epochs}")
        self.warmup_epochs = int(warmup_epochs)
        self.scores: list[float] | None = None

    def observe(self, scores: Sequence[float]) -> None:
        self.scores = self._check_scores(scores)

    def discrepancies(self) -> list[float]:
        """r_m per modality; all 0 before the first observation or with a single modality."""
        if self.scores is None or self.n_modalities == 1:
            return [0.0] * self.n_modalities
        scores = torch.tensor(self.scores, dtype=torch.float64).clamp_min(_SCORE_FLOOR)
        ratios = scores[:, None] / scores[None, :]  # (M, M): s_m / s_m'
        mean_ratio_to_others = (ratios.sum(dim=1) - 1.0) / (self.n_modalities - 1)
        return torch.tanh(torch.relu(mean_ratio_to_others - 1.0)).tolist()

    def drop_probabilities(self) -> list[float]:
        """q_m per modality, ignoring warm-up and `apply_prob`."""
        return [
            min(1.0, self.q_base * (1.0 + self.lam * r)) if r > 0 else 0.0
            for r in self.discrepancies()
        ]

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Tensor:
        device = device_of(generator)
        shape = (batch_size, self.n_modalities)
        if self.epoch < self.warmup_epochs:
            return torch.zeros(shape, device=device)
        drop_probability = torch.tensor(self.drop_probabilities(), device=device)
        applied = torch.rand((batch_size, 1), generator=generator, device=device) < self.apply_prob
        draw = torch.rand(shape, generator=generator, device=device)
        dropped = applied & (draw < drop_probability)
        return keep_one_modality(dropped, generator).float()

    def log_values(self) -> dict[str, float]:
        return {
            **self.per_modality("discrepancy", self.discrepancies()),
            **self.per_modality("drop_prob", self.drop_probabilities()),
        }
