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

from miam.core.masking.base import Strategy, device_of, register

CORNER_WEIGHTS = ("critical", "uniform")
# MIAM's options (see `Miam`): what rho_s is computed from, and the floor on d.
RHO_S_FROM = ("score", "above_chance")
D_FLOORS = ("standard_error", "eps")


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

    Two guards, neither published, keep a noisy or stalled score from inverting the method:

    - Noise floor on d. A change of s_m smaller than its measurement noise says nothing about
      learning speed, so rho_d uses max(d_m, floor_m) with floor_m = the standard error of the
      latest s_m (given to `observe`), or `eps` when none was given (or it is NaN); `eps` stays
      the absolute floor. Without it a weak modality whose score stalls gets d -> 0, r in the
      tens and is masked most, the opposite of the intent. The floor is one SE, not sqrt(2) SE:
      consecutive scores are measured on the same validation samples, so their errors are
      positively correlated and the noise of their difference lies below sqrt(2) SE, the value
      for independent errors; even then a noise-only |ds| averages 2 / sqrt(pi) SE ~ 1.13 SE.
      One SE is thus the typical size of a change that noise alone produces. The EMA itself is
      kept unfloored (state `speeds`); the floor is applied only when rho_d is computed.
    - Clip on the imbalance term. lam |log r_m| is clipped at `max_log_imbalance`, so r_m^lam
      stays in [exp(-max), exp(max)] ([1/5, 5] by default). Unclipped, r_m > kappa would make
      Beta(1, kappa / r_m) of the c_m = 0 corners put its mass near 1 as well, and p_m would no
      longer depend on the corner.

    Two options, each a deviation from the paper, default off (docs/study.md measures them):

    - `rho_s_from="above_chance"`: rho_s from s_m - chance (AUC - 0.5; top-1 - 1/C) instead of
      s_m. A bounded score that starts at chance (an AUC in [0.5, 1]) keeps s / geomean(s)
      close to 1, so the imbalance term barely acts; measured above chance, a modality twice
      as far from chance counts twice as strong. `chance` is the score of a model that knows
      nothing, given by the trainer (miam.runs.training.build_strategy).
    - `d_floor="eps"`: the paper's floor on d (eps alone) instead of one standard error of s_m.

    Args:
        kappa: base sharpness (the authors' demo: 10).
        lam: strength of the imbalance term, the paper's lambda (the authors' demo: 1).
        corner_weights: "critical" or "uniform", as for the beta hypercube.
        d_smoothing: EMA weight of the previous learning speed; 0 uses only the latest change.
        eps: floor on s, and on d when no standard errors are known, so geometric means and logs
            stay finite when a score is 0 or stops changing.
        max_log_imbalance: bound on lam |log r_m|; math.inf turns the clip off.
        rho_s_from: "score" (the paper: rho_s from s_m) or "above_chance" (from s_m - chance).
        chance: the chance-level score, needed by "above_chance" (ignored otherwise).
        d_floor: "standard_error" (the floor on d is the SE of s_m, at least eps) or "eps"
            (the paper's: eps alone).
    """

    name = "miam"
    state_fields = (*Strategy.state_fields, "scores", "speeds", "standard_errors")

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
        max_log_imbalance: float = math.log(5.0),
        rho_s_from: str = "score",
        chance: float | None = None,
        d_floor: str = "standard_error",
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
        if not max_log_imbalance >= 0:  # also refuses NaN
            raise ValueError(f"max_log_imbalance must be >= 0, got {max_log_imbalance}")
        if rho_s_from not in RHO_S_FROM:
            raise ValueError(f"rho_s_from {rho_s_from!r} not in {RHO_S_FROM}")
        if rho_s_from == "above_chance" and chance is None:
            raise ValueError('rho_s_from "above_chance" needs the chance-level score `chance`')
        if d_floor not in D_FLOORS:
            raise ValueError(f"d_floor {d_floor!r} not in {D_FLOORS}")
        self.rho_s_from, self.d_floor = rho_s_from, d_floor
        self.chance = None if chance is None else float(chance)
        self.lam, self.d_smoothing, self.eps = float(lam), float(d_smoothing), float(eps)
        self.max_log_imbalance = float(max_log_imbalance)
        self.scores: list[float] | None = None  # s, latest observation
        self.speeds: list[float] | None = None  # d, unfloored EMA of |change of s|
        self.standard_errors: list[float] | None = None  # SE of the latest s, if given

    def observe(
        self, scores: Sequence[float], standard_errors: Sequence[float] | None = None
    ) -> None:
        scores = self._check_scores(scores)
        standard_errors = self._check_standard_errors(standard_errors)
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
        self.standard_errors = standard_errors

    def _relative(self, values: list[float] | None, floors: list[float]) -> list[float]:
        """values / geomean(values) after flooring each at its floor; all 1 when unknown."""
        if values is None:
            return [1.0] * self.n_modalities
        logs = [math.log(max(v, floor)) for v, floor in zip(values, floors, strict=True)]
        mean_log = sum(logs) / len(logs)
        return [math.exp(x - mean_log) for x in logs]

    def speed_floors(self) -> list[float]:
        """The floor on d_m: the SE of the latest s_m (at least eps), else eps; eps alone
        under `d_floor="eps"`."""
        if self.standard_errors is None or self.d_floor == "eps":
            return [self.eps] * self.n_modalities
        return [self.eps if math.isnan(e) else max(e, self.eps) for e in self.standard_errors]

    def relative_scores(self) -> list[float]:
        """rho_s per modality (from s_m - chance under `rho_s_from="above_chance"`)."""
        scores = self.scores
        if scores is not None and self.rho_s_from == "above_chance":
            scores = [s - self.chance for s in scores]
        return self._relative(scores, [self.eps] * self.n_modalities)

    def relative_speeds(self) -> list[float]:
        """rho_d per modality, from the floored learning speeds."""
        return self._relative(self.speeds, self.speed_floors())

    def imbalance(self) -> list[float]:
        """r_m = rho_s,m / rho_d,m, before the clip; 1 until two observations exist."""
        if self.speeds is None:
            return [1.0] * self.n_modalities
        return [
            rho_s / rho_d
            for rho_s, rho_d in zip(self.relative_scores(), self.relative_speeds(), strict=True)
        ]

    def imbalance_exponents(self) -> list[float]:
        """lam log r_m clipped to [-max_log_imbalance, max_log_imbalance]."""
        bound = self.max_log_imbalance
        return [min(bound, max(-bound, self.lam * math.log(r))) for r in self.imbalance()]

    def clipped(self) -> list[bool]:
        """Whether the clip on lam |log r_m| is active for each modality."""
        return [abs(self.lam * math.log(r)) > self.max_log_imbalance for r in self.imbalance()]

    def sharpness(self) -> tuple[list[float], list[float]]:
        exponents = self.imbalance_exponents()
        toward_zero = [self.kappa * math.exp(-x) for x in exponents]
        toward_one = [self.kappa * math.exp(x) for x in exponents]
        return toward_zero, toward_one

    def log_values(self) -> dict[str, float]:
        unknown = [math.nan] * self.n_modalities
        return {
            **self.per_modality("s", self.scores or unknown),
            **self.per_modality("d", self.speeds or unknown),
            **self.per_modality("d_floor", self.speed_floors()),
            **self.per_modality("rho_s", self.relative_scores()),
            **self.per_modality("rho_d", self.relative_speeds()),
            **self.per_modality("r", self.imbalance()),
            **self.per_modality("clipped", [float(c) for c in self.clipped()]),
            "max_log_imbalance": self.max_log_imbalance,
            **super().log_values(),
        }
