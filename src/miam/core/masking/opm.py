"""OPM (Wei et al., TPAMI 2024, GeWu-Lab/BML_TPAMI2024): drop the modalities that lead.

From the latest unimodal scores s, modality m's discrepancy is
r_m = tanh(relu(mean_{m' != m} s_m / s_m' - 1)) (for M = 2, simply s_m / s_other), and its drop
probability is q_m = q_base * (1 + lam * r_m) if r_m > 0 else 0, clipped to [0, 1]. The weakest
modality has r = 0 and is never dropped.

How the baseline applies it (code/models/Classifier.py, `Modality_drop.execute_drop` and
`calcu_q`; code/main.py `train`; code/config.py), and what is reproduced here:

- Once per batch, with probability `apply_prob` (the baseline's p_exe, 0.7), OPM acts on the
  whole batch; otherwise the batch trains on every modality. Reproduced: one draw per `sample`
  call, and the trainer calls `sample` once per batch.
- When it acts, each sample drops each modality independently with q_m (the baseline draws
  Bernoulli(1 - q) of shape [B, 1, M]: per sample, not shared by the batch). Reproduced; a
  dropped modality gets p = 1, a kept one p = 0.
- Warm-up: the baseline modulates nothing while `epoch <= 5` with 0-based epochs out of
  `epochs = 100`, i.e. 6 % of training. Here epoch e (0-based) is warm-up iff
  e < floor(warmup_fraction * n_epochs + 1/2), with `warmup_fraction` = 0.06 by default: the
  baseline's 6 of 100 epochs, and none at all for runs shorter than 9 epochs (a 4-epoch demo
  masks from epoch 1, the first with a score). Nothing is dropped before the first `observe`.
- Samples with every modality dropped are excluded from the baseline's loss (`update_flag`) and
  a batch made only of them is skipped. A strategy returns p and cannot remove samples, so here
  such a sample gets one modality back, chosen uniformly at random (`keep_one_modality`). The
  case cannot arise with these formulas in either code (the weakest modality has q = 0); the
  guard only matters for hand-set drop probabilities.
- Differences kept on purpose: the baseline's s_m is the on-the-fly training-batch score (the
  summed softmax probability of the true class from each modality's half of the fusion layer,
  recomputed every batch); here s_m is the latest unimodal validation score, as MIAM uses, so
  both adaptive strategies see the same signal. The baseline also rescales the kept features by
  1 / (1 - theta), theta the feature-size-weighted mean q, a dropout-style correction that has
  no counterpart when masked tokens are replaced by a mask token.

`log_values` records, besides r_m and q_m, the realised drop rate of each modality: the share
of the samples drawn since the last `set_progress` (this epoch) that had it dropped.
"""

from __future__ import annotations

import math
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

# Scores are floored here so ratios stay finite (scores are AUC or accuracy, so positive).
_SCORE_FLOOR = 1e-6

# The baseline's warm-up: epochs 0..5 (`epoch <= 5`) of its 100 (code/main.py, code/config.py).
BASELINE_WARMUP_FRACTION = 6 / 100


@register
class Opm(Strategy):
    """On-the-fly prediction modulation; see the module docstring.

    Args:
        q_base: drop probability of a modality that leads by an infinitesimal margin.
        lam: how much the drop probability grows with the discrepancy.
        apply_prob: probability that OPM acts on a given batch at all.
        warmup_fraction: share of the training epochs, at the start, with no dropping; epoch e
            is warm-up iff e < floor(warmup_fraction * n_epochs + 1/2).
    """

    name = "opm"
    state_fields = (*Strategy.state_fields, "scores", "samples_drawn", "samples_dropped")

    def __init__(
        self,
        n_modalities: int,
        *,
        modality_names: Sequence[str] | None = None,
        q_base: float = 0.5,
        lam: float = 0.5,
        apply_prob: float = 0.7,
        warmup_fraction: float = BASELINE_WARMUP_FRACTION,
    ):
        super().__init__(n_modalities, modality_names=modality_names)
        self.q_base = check_probability("q_base", q_base)
        if lam < 0:
            raise ValueError(f"lam must be >= 0, got {lam}")
        self.lam = float(lam)
        self.apply_prob = check_probability("apply_prob", apply_prob)
        self.warmup_fraction = check_probability("warmup_fraction", warmup_fraction)
        self.scores: list[float] | None = None
        # Realised drops since the last set_progress, for `drop_rate.<m>`.
        self.samples_drawn = 0
        self.samples_dropped = [0] * n_modalities

    def set_progress(self, epoch: int, n_epochs: int) -> None:
        super().set_progress(epoch, n_epochs)
        self.samples_drawn = 0
        self.samples_dropped = [0] * self.n_modalities

    def observe(
        self, scores: Sequence[float], standard_errors: Sequence[float] | None = None
    ) -> None:
        """Keeps the scores; the standard errors are checked and unused (the baseline has none)."""
        self._check_standard_errors(standard_errors)
        self.scores = self._check_scores(scores)

    def warmup_epochs(self) -> int:
        """Number of warm-up epochs in this run; before `set_progress`, unknown: all of them."""
        if self.n_epochs is None:
            return 0 if self.warmup_fraction == 0 else 1
        return math.floor(self.warmup_fraction * self.n_epochs + 0.5)

    def warming_up(self) -> bool:
        return self.epoch < self.warmup_epochs()

    def discrepancies(self) -> list[float]:
        """r_m per modality; all 0 before the first observation or with a single modality."""
        if self.scores is None or self.n_modalities == 1:
            return [0.0] * self.n_modalities
        scores = torch.tensor(self.scores, dtype=torch.float64).clamp_min(_SCORE_FLOOR)
        ratios = scores[:, None] / scores[None, :]  # (M, M): s_m / s_m'
        ratios.fill_diagonal_(0.0)
        mean_ratio_to_others = ratios.sum(dim=1) / (self.n_modalities - 1)
        return torch.tanh(torch.relu(mean_ratio_to_others - 1.0)).tolist()

    def drop_probabilities(self) -> list[float]:
        """q_m per modality, ignoring warm-up and `apply_prob`."""
        return [
            min(1.0, self.q_base * (1.0 + self.lam * r)) if r > 0 else 0.0
            for r in self.discrepancies()
        ]

    def active(self) -> bool:
        """Whether OPM may drop anything this epoch: past warm-up and after an observation."""
        return self.scores is not None and not self.warming_up()

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Tensor:
        device = device_of(generator)
        shape = (batch_size, self.n_modalities)
        if not self.active():
            p = torch.zeros(shape, device=device)
        else:
            drop_probability = torch.tensor(self.drop_probabilities(), device=device)
            # One decision for the whole batch, then independent per-sample drops.
            applied = torch.rand((1, 1), generator=generator, device=device) < self.apply_prob
            draw = torch.rand(shape, generator=generator, device=device)
            dropped = applied & (draw < drop_probability)
            p = keep_one_modality(dropped, generator).float()
        self.samples_drawn += batch_size
        counts = p.sum(dim=0).round().long().tolist()
        self.samples_dropped = [
            old + new for old, new in zip(self.samples_dropped, counts, strict=True)
        ]
        return p

    def expected_p(self) -> list[float]:
        # Exact: the weakest modality has q = 0, so the all-dropped guard never fires.
        if not self.active():
            return [0.0] * self.n_modalities
        return [self.apply_prob * q for q in self.drop_probabilities()]

    def drop_rates(self) -> list[float]:
        """Share of the samples drawn this epoch with each modality dropped (NaN before any)."""
        if self.samples_drawn == 0:
            return [math.nan] * self.n_modalities
        return [dropped / self.samples_drawn for dropped in self.samples_dropped]

    def log_values(self) -> dict[str, float]:
        return {
            **self.per_modality("discrepancy", self.discrepancies()),
            **self.per_modality("drop_prob", self.drop_probabilities()),
            **self.per_modality("drop_rate", self.drop_rates()),
            "warmup": float(self.warming_up()),
        }
