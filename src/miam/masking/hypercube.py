"""The hypercube family of the MIAM ablation ladder: uniform hypercube, beta hypercube, MIAM.

Beta hypercube and MIAM are mixtures over the corners c in {0, 1}^M of product-Beta components:
p ~ sum_c w_c prod_m f_{c,m}(p_m), with f = Beta(1, b_m) (mass near 0) where c_m = 0 and
Beta(a_m, 1) (mass near 1) where c_m = 1. Both have closed-form inverse CDFs,
p = 1 - U^(1/b) and p = U^(1/a), so they are sampled exactly from the generator's uniforms.
A corner is drawn in O(M) without listing the 2^M corners: all-0 with w_0, all-1 with w_1, else
uniform random bits, redrawn while they are all 0 or all 1 (which spreads the remaining mass
evenly over the 2^M - 2 other corners).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from miam.masking.base import Strategy, device_of, register

CORNER_WEIGHTS = ("critical", "uniform")


def all_zero_and_all_one_weights(n_modalities: int, corner_weights: str) -> tuple[float, float]:
    """(w_0, w_1) of the all-0 and all-1 corners; the other 2^M - 2 corners share the rest.

    "critical" (MIAM): 1/4 each, so every other corner gets 1 / (2 (2^M - 2)).
    "uniform": every corner gets 1 / 2^M. With M = 1 the two corners are all there is: 1/2 each.
    """
    if corner_weights not in CORNER_WEIGHTS:
        raise ValueError(f"corner_weights {corner_weights!r} not in {CORNER_WEIGHTS}")
    if n_modalities == 1:
        return 0.5, 0.5
    if corner_weights == "critical":
        return 0.25, 0.25
    return 2.0**-n_modalities, 2.0**-n_modalities


def sample_corners(
    batch_size: int,
    n_modalities: int,
    all_zero_weight: float,
    all_one_weight: float,
    generator: torch.Generator | None = None,
) -> Tensor:
    """(B, M) bool corners, True where c_m = 1; O(M) memory and time per draw."""
    device = device_of(generator)
    choice = torch.rand(batch_size, generator=generator, device=device)
    all_zero = choice < all_zero_weight
    all_one = ~all_zero & (choice < all_zero_weight + all_one_weight)
    bits = torch.rand((batch_size, n_modalities), generator=generator, device=device) < 0.5
    corners = torch.where(all_one[:, None], True, bits & ~all_zero[:, None])

    def uniform_rows(rows: Tensor) -> Tensor:
        # A count is several times faster than .all/.any over a short last dimension on CPU.
        ones = rows.sum(dim=1, dtype=torch.int32)
        return (ones == 0) | (ones == n_modalities)

    # Rows meant for a mixed corner but whose bits came out all 0 or all 1 are redrawn.
    redraw_rows = (~all_zero & ~all_one & uniform_rows(corners)).nonzero().squeeze(1)
    while redraw_rows.numel() > 0:
        shape = (redraw_rows.numel(), n_modalities)
        redrawn = torch.rand(shape, generator=generator, device=device) < 0.5
        corners[redraw_rows] = redrawn
        redraw_rows = redraw_rows[uniform_rows(redrawn)]
    return corners


@register
class UniformHypercube(Strategy):
    """Each p_m ~ U(0, 1) independently: full support, no corner priority."""

    name = "uniform_hypercube"

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Tensor:
        shape = (batch_size, self.n_modalities)
        return torch.rand(shape, generator=generator, device=device_of(generator))

    def expected_p(self) -> list[float]:
        return [0.5] * self.n_modalities


@register
class BetaHypercube(Strategy):
    """Corner mixture of product-Betas with fixed sharpness: Beta(1, kappa) / Beta(kappa, 1).

    Args:
        kappa: sharpness; larger concentrates each component closer to its corner.
        corner_weights: "critical" (1/4 on all-0, 1/4 on all-1, the rest even) or "uniform"
            (1/2^M each), the paper's corner-weight ablation.
    """

    name = "beta_hypercube"

    def __init__(
        self,
        n_modalities: int,
        *,
        modality_names: Sequence[str] | None = None,
        kappa: float = 10.0,
        corner_weights: str = "critical",
    ):
        super().__init__(n_modalities, modality_names=modality_names)
        if kappa <= 0:
            raise ValueError(f"kappa must be > 0, got {kappa}")
        self.kappa = float(kappa)
        self.corner_weights = corner_weights
        self.all_zero_weight, self.all_one_weight = all_zero_and_all_one_weights(
            n_modalities, corner_weights
        )

    def sharpness(self) -> tuple[list[float], list[float]]:
        """(b, a) per modality: Beta(1, b_m) where c_m = 0, Beta(a_m, 1) where c_m = 1."""
        return [self.kappa] * self.n_modalities, [self.kappa] * self.n_modalities

    def sample_with_corners(
        self, batch_size: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """p (B, M) float32 and the corner each row was drawn from, (B, M) bool (True: c_m = 1)."""
        device = device_of(generator)
        corners = sample_corners(
            batch_size, self.n_modalities, self.all_zero_weight, self.all_one_weight, generator
        )
        toward_zero, toward_one = (torch.tensor(x, device=device) for x in self.sharpness())
        uniform = torch.rand((batch_size, self.n_modalities), generator=generator, device=device)
        # Inverse CDFs: Beta(a, 1) has CDF p^a, Beta(1, b) has CDF 1 - (1 - p)^b. U^(1/k) is
        # computed as exp(log(U) / k), twice as fast as a tensor-exponent pow on CPU.
        log_uniform = uniform.log()
        p = torch.where(
            corners, (log_uniform / toward_one).exp(), 1.0 - (log_uniform / toward_zero).exp()
        )
        return p, corners

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Tensor:
        return self.sample_with_corners(batch_size, generator)[0]

    def expected_p(self) -> list[float]:
        # Given a mixed corner, c_m = 1 with probability 1/2: that set is closed under complement.
        mixed_weight = 1.0 - self.all_zero_weight - self.all_one_weight
        corner_one = self.all_one_weight + mixed_weight / 2
        return [
            (1.0 - corner_one) / (1.0 + b) + corner_one * a / (a + 1.0)
            for b, a in zip(*self.sharpness(), strict=True)
        ]

    def log_values(self) -> dict[str, float]:
        toward_zero, toward_one = self.sharpness()
        return {
            **self.per_modality("kappa_zero", toward_zero),
            **self.per_modality("kappa_one", toward_one),
        }


@register
class Miam(BetaHypercube):
    """MIAM: the beta hypercube whose sharpness follows modality imbalance.

    Component sharpness is Beta(1, kappa r_m^-lam) where c_m = 0 and Beta(kappa r_m^lam, 1) where
    c_m = 1, with r_m = rho_s,m / rho_d,m, rho_s = s / geomean(s), rho_d = d / geomean(d). s_m is
    the latest unimodal score from `observe`; d_m, its learning speed, is |change of s_m| between
    consecutive observations, smoothed by an EMA: d <- d_smoothing d + (1 - d_smoothing) |ds|
    (the first change is taken as is). Strong (high s) and settled (low d) modalities get r > 1
    and are pushed toward p = 1. Until two observations exist, r = 1 (the beta hypercube).

    Args:
        kappa: base sharpness (the authors' demo: 10).
        lam: strength of the imbalance term, the paper's lambda (the authors' demo: 1).
        corner_weights: "critical" or "uniform", as for the beta hypercube.
        d_smoothing: EMA weight of the previous learning speed; 0 uses only the latest change.
        eps: floor on s and d, so geometric means and logs stay finite when a score is 0 or
            stops changing.
    """

    name = "miam"
    state_fields = (*Strategy.state_fields, "scores", "speeds")

    def __init__(
        self,
        n_modalities: int,
        *,
        modality_names: Sequence[str] | None = None,
        kappa: float = 10.0,
        lam: float = 1.0,
        corner_weights: str = "critical",
        d_smoothing: float = 0.5,
        eps: float = 1e-4,
    ):
        super().__init__(
            n_modalities, modality_names=modality_names, kappa=kappa, corner_weights=corner_weights
        )
        if lam < 0:
            raise ValueError(f"lam must be >= 0, got {lam}")
        if not 0.0 <= d_smoothing < 1.0:
            raise ValueError(f"d_smoothing must be in [0, 1), got {d_smoothing}")
        if eps <= 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        self.lam, self.d_smoothing, self.eps = float(lam), float(d_smoothing), float(eps)
        self.scores: list[float] | None = None  # s, latest observation
        self.speeds: list[float] | None = None  # d, unfloored EMA of |change of s|

    def observe(self, scores: Sequence[float]) -> None:
        scores = self._check_scores(scores)
        if self.scores is not None:
            changes = [abs(new - old) for new, old in zip(scores, self.scores, strict=True)]
            self.speeds = (
                changes
                if self.speeds is None
                else [
                    self.d_smoothing * old + (1.0 - self.d_smoothing) * change
                    for old, change in zip(self.speeds, changes, strict=True)
                ]
            )
        self.scores = scores

    def _relative(self, values: list[float] | None) -> list[float]:
        """values / geomean(values) after flooring at eps; all 1 when values are unknown."""
        if values is None:
            return [1.0] * self.n_modalities
        logs = [math.log(max(v, self.eps)) for v in values]
        mean_log = sum(logs) / len(logs)
        return [math.exp(x - mean_log) for x in logs]

    def relative_scores(self) -> list[float]:
        """rho_s per modality."""
        return self._relative(self.scores)

    def relative_speeds(self) -> list[float]:
        """rho_d per modality."""
        return self._relative(self.speeds)

    def imbalance(self) -> list[float]:
        """r_m = rho_s,m / rho_d,m; 1 until two observations exist."""
        if self.speeds is None:
            return [1.0] * self.n_modalities
        return [
            rho_s / rho_d
            for rho_s, rho_d in zip(self.relative_scores(), self.relative_speeds(), strict=True)
        ]

    def sharpness(self) -> tuple[list[float], list[float]]:
        imbalance = self.imbalance()
        toward_zero = [self.kappa * r ** (-self.lam) for r in imbalance]
        toward_one = [self.kappa * r**self.lam for r in imbalance]
        return toward_zero, toward_one

    def log_values(self) -> dict[str, float]:
        unknown = [math.nan] * self.n_modalities
        return {
            **self.per_modality("s", self.scores or unknown),
            **self.per_modality("d", self.speeds or unknown),
            **self.per_modality("rho_s", self.relative_scores()),
            **self.per_modality("rho_d", self.relative_speeds()),
            **self.per_modality("r", self.imbalance()),
            **super().log_values(),
        }
