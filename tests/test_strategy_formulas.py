"""Each strategy against numbers worked out by hand, so a wrong formula cannot pass.

Closed-form quantities (MIAM's r, rho and Beta parameters, OPM's r and q) are compared with
values computed in the comments. Distributions are checked with fixed seeds against their
hand-derived moments and probabilities, with tolerances of 5 standard errors of the estimate.
"""

import math

import pytest
import torch

from miam.core.masking import make_strategy

N = 40000


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def five_se_of_a_share(p: float, n: int) -> float:
    return 5 * math.sqrt(p * (1 - p) / n)


def correlation(x: torch.Tensor, y: torch.Tensor) -> float:
    x, y = x.double() - x.double().mean(), y.double() - y.double().mean()
    return ((x * y).mean() / (x.pow(2).mean() * y.pow(2).mean()).sqrt()).item()


def miam_after(history, standard_errors=None, **params):
    strategy = make_strategy("miam", len(history[0]), **params)
    for scores in history:
        strategy.observe(scores, standard_errors)
    return strategy


# --- MIAM -------------------------------------------------------------------------------------


def test_miam_formulas_without_standard_errors():
    # s: [0.85, 0.50, 0.40] -> [0.80, 0.40, 0.20]; d = |ds| = [0.05, 0.10, 0.20], all > eps.
    # geomean(s) = (0.8 * 0.4 * 0.2)^(1/3) = 0.064^(1/3) = 0.4  -> rho_s = [2, 1, 0.5]
    # geomean(d) = (0.05 * 0.1 * 0.2)^(1/3) = 0.001^(1/3) = 0.1 -> rho_d = [0.5, 1, 2]
    # r = rho_s / rho_d = [4, 1, 0.25]; |log 4| = 1.386 < log 5 = 1.609: no clip.
    # kappa 10, lam 1: toward_zero = 10 / r = [2.5, 10, 40], toward_one = 10 r = [40, 10, 2.5].
    miam = miam_after([[0.85, 0.50, 0.40], [0.80, 0.40, 0.20]], kappa=10.0, lam=1.0)
    assert miam.speeds == pytest.approx([0.05, 0.10, 0.20])
    assert miam.relative_scores() == pytest.approx([2.0, 1.0, 0.5])
    assert miam.relative_speeds() == pytest.approx([0.5, 1.0, 2.0])
    assert miam.imbalance() == pytest.approx([4.0, 1.0, 0.25])
    assert miam.clipped() == [False, False, False]
    toward_zero, toward_one = miam.sharpness()
    assert toward_zero == pytest.approx([2.5, 10.0, 40.0])
    assert toward_one == pytest.approx([40.0, 10.0, 2.5])
    # Critical weights, M = 3: P(c_m = 1) = 1/4 + (1/2)(1/2) = 1/2, so
    # E[p_m] = 1/2 * 1/(1 + b) + 1/2 * a/(a + 1):
    # m0: 1/7 + 20/41 = 0.630662; m1: 1/22 + 5/11 = 0.5; m2: 1/82 + 5/14 = 0.369338.
    assert miam.expected_p() == pytest.approx([0.630662, 0.5, 0.369338], abs=1e-6)
    # lam 1/2: r^(1/2) = [2, 1, 1/2]; toward_zero = [5, 10, 20], toward_one = [20, 10, 5].
    half = miam_after([[0.85, 0.50, 0.40], [0.80, 0.40, 0.20]], kappa=10.0, lam=0.5)
    assert half.sharpness()[0] == pytest.approx([5.0, 10.0, 20.0])
    assert half.sharpness()[1] == pytest.approx([20.0, 10.0, 5.0])
    # The learning speed is floored at eps = 1e-4 only, far below these d.
    assert miam.state()["d_floor.0"] == 1e-4


def test_miam_floors_the_learning_speed_at_the_standard_error_and_clips_at_log_5():
    # s: [0.80, 0.30, 0.50] -> [0.90, 0.30, 0.10]; raw d = [0.1, 0.0, 0.4] (state keeps it).
    # SE [0.02, 0.025, 0.02] floors d at rho_d time: [0.1, 0.025, 0.4] (only m1 is raised).
    # geomean(d) = (0.1 * 0.025 * 0.4)^(1/3) = 0.001^(1/3) = 0.1 -> rho_d = [1, 0.25, 4]
    # geomean(s) = (0.9 * 0.3 * 0.1)^(1/3) = 0.027^(1/3) = 0.3 -> rho_s = [3, 1, 1/3]
    # r = [3, 4, 1/12]; lam log r = [1.099, 1.386, -2.485]: m2 is clipped at -log 5, so
    # r^lam used = [3, 4, 1/5]: toward_zero = 10 / that = [10/3, 2.5, 50], toward_one = [30, 40, 2].
    miam = miam_after(
        [[0.80, 0.30, 0.50], [0.90, 0.30, 0.10]], standard_errors=[0.02, 0.025, 0.02], lam=1.0
    )
    assert miam.speeds == pytest.approx([0.1, 0.0, 0.4])
    assert miam.speed_floors() == pytest.approx([0.02, 0.025, 0.02])
    assert miam.relative_scores() == pytest.approx([3.0, 1.0, 1 / 3])
    assert miam.relative_speeds() == pytest.approx([1.0, 0.25, 4.0])
    assert miam.imbalance() == pytest.approx([3.0, 4.0, 1 / 12])
    toward_zero, toward_one = miam.sharpness()
    assert toward_zero == pytest.approx([10 / 3, 2.5, 50.0])
    assert toward_one == pytest.approx([30.0, 40.0, 2.0])
    state = miam.state()
    assert [state[f"clipped.{m}"] for m in range(3)] == [0.0, 0.0, 1.0]
    assert [state[f"d_floor.{m}"] for m in range(3)] == pytest.approx([0.02, 0.025, 0.02])
    assert state["max_log_imbalance"] == pytest.approx(1.609438)  # log 5
    assert state["d.1"] == 0.0  # the EMA stays unfloored


def test_a_stalled_weak_modality_is_not_the_most_masked():
    # s: [0.80, 0.86, 0.60] -> [0.81, 0.87, 0.60]: the weak modality's score does not move.
    # SE 0.02 each: raw d = [0.01, 0.01, 0] all floored to 0.02 -> rho_d = [1, 1, 1].
    # geomean(s) = (0.81 * 0.87 * 0.60)^(1/3) = 0.42282^(1/3) = 0.750560
    # r = rho_s = [0.81, 0.87, 0.60] / 0.750560 = [1.079195, 1.159135, 0.799404].
    # E[p_m] = 1/2 / (1 + 10/r) + 1/2 * 10r / (10r + 1):
    # m0: 0.5/10.266 + 0.5 * 10.792/11.792 = 0.048703 + 0.457598 = 0.506301
    # m1: 0.5/9.6271 + 0.5 * 11.591/12.591 = 0.051937 + 0.460289 = 0.512227
    # m2: 0.5/13.509 + 0.5 * 7.9940/8.9940 = 0.037012 + 0.444407 = 0.481419 (the lowest)
    history = [[0.80, 0.86, 0.60], [0.81, 0.87, 0.60]]
    miam = miam_after(history, standard_errors=[0.02, 0.02, 0.02])
    assert miam.imbalance() == pytest.approx([1.079195, 1.159135, 0.799404], rel=1e-5)
    assert miam.expected_p() == pytest.approx([0.506301, 0.512227, 0.481419], abs=2e-6)
    expected_p = miam.expected_p()
    assert expected_p[2] == min(expected_p)
    # Without standard errors d_2 falls to eps = 1e-4: rho_d = [4.6416, 4.6416, 0.046416]
    # (geomean(d) = (1e-2 * 1e-2 * 1e-4)^(1/3) = 10^(-8/3) = 0.0021544), so
    # r_2 = 0.799404 / 0.046416 = 17.2226 > kappa. The clip bounds r^lam at 5: Beta(1, 10/5)
    # and Beta(50, 1), and E[p_2] = 1/2 * 1/3 + 1/2 * 50/51 = 0.656863 instead of 0.81.
    bare = miam_after(history)
    assert bare.imbalance()[2] == pytest.approx(17.2226, rel=1e-5)
    assert bare.clipped() == [False, False, True]
    assert bare.sharpness()[0][2] == pytest.approx(2.0)
    assert bare.sharpness()[1][2] == pytest.approx(50.0)
    assert bare.expected_p()[2] == pytest.approx(0.656863, abs=1e-6)


def test_miam_learning_speed_is_an_ema_over_observations():
    # d_smoothing 0.5, eps floor (no SE), M = 2, so rho_x,0 = sqrt(x0/x1) and
    # r_0 = sqrt((s0/s1) / (d0/d1)), r_1 = 1 / r_0.
    miam = make_strategy("miam", 2, d_smoothing=0.5, lam=1.0, max_log_imbalance=math.inf)
    miam.observe([0.5, 0.5])
    assert miam.speeds is None and miam.imbalance() == [1.0, 1.0]
    miam.observe([0.6, 0.5])  # |ds| = [0.1, 0], first change as is: d = [0.1, 0]
    assert miam.speeds == pytest.approx([0.1, 0.0])
    # d_1 floored at 1e-4: r_0 = sqrt((0.6/0.5) / (0.1/1e-4)) = sqrt(1.2/1000) = 0.0346410
    assert miam.imbalance() == pytest.approx([0.0346410, 28.8675], rel=1e-5)
    miam.observe([0.6, 0.7])  # |ds| = [0, 0.2]: d = [0.05 + 0, 0 + 0.1] = [0.05, 0.1]
    assert miam.speeds == pytest.approx([0.05, 0.1])
    # r_0 = sqrt((0.6/0.7) / (0.05/0.1)) = sqrt(12/7) = 1.309307
    assert miam.imbalance() == pytest.approx([1.309307, 0.763763], rel=1e-5)
    miam.observe([0.7, 0.7])  # |ds| = [0.1, 0]: d = [0.025 + 0.05, 0.05 + 0] = [0.075, 0.05]
    assert miam.speeds == pytest.approx([0.075, 0.05])
    # r_0 = sqrt(1 / 1.5) = 0.816497
    assert miam.imbalance() == pytest.approx([0.816497, 1.224745], rel=1e-5)
    miam.observe([0.7, 0.8])  # |ds| = [0, 0.1]: d = [0.0375, 0.025 + 0.05] = [0.0375, 0.075]
    assert miam.speeds == pytest.approx([0.0375, 0.075])
    # r_0 = sqrt((0.7/0.8) / (0.0375/0.075)) = sqrt(0.875 / 0.5) = sqrt(1.75) = 1.322876
    assert miam.imbalance() == pytest.approx([1.322876, 0.755929], rel=1e-5)


def test_miam_clip_is_symmetric_and_configurable():
    # r = [4, 1, 0.25] (first test). max_log_imbalance = log 2 clips both ends: r^lam in
    # [1/2, 2]: toward_zero = [5, 10, 20], toward_one = [20, 10, 5].
    miam = miam_after(
        [[0.85, 0.50, 0.40], [0.80, 0.40, 0.20]], lam=1.0, max_log_imbalance=math.log(2)
    )
    assert miam.clipped() == [True, False, True]
    assert miam.sharpness()[0] == pytest.approx([5.0, 10.0, 20.0])
    assert miam.sharpness()[1] == pytest.approx([20.0, 10.0, 5.0])
    assert miam.spec()["max_log_imbalance"] == pytest.approx(math.log(2))
    with pytest.raises(ValueError, match="max_log_imbalance"):
        make_strategy("miam", 3, max_log_imbalance=-1.0)


# --- OPM --------------------------------------------------------------------------------------

# s = [0.9, 0.6, 0.3]. Mean ratio to the others:
#   m0: (0.9/0.6 + 0.9/0.3) / 2 = (1.5 + 3) / 2 = 2.25 -> r = tanh(1.25) = 0.848284
#   m1: (0.6/0.9 + 0.6/0.3) / 2 = (2/3 + 2) / 2 = 4/3 -> r = tanh(1/3) = 0.321513
#   m2: (1/3 + 1/2) / 2 = 5/12 < 1 -> r = 0
# q = 0.5 (1 + 0.5 r): [0.5 * 1.424142, 0.5 * 1.160756, 0] = [0.712071, 0.580378, 0].
OPM_SCORES = [0.9, 0.6, 0.3]
OPM_Q = [0.712071, 0.580378, 0.0]


def opm_after(scores, epoch=1, n_epochs=4, **params):
    opm = make_strategy("opm", len(scores), **params)
    opm.set_progress(epoch, n_epochs)
    opm.observe(scores)
    return opm


def test_opm_three_modalities_use_the_mean_ratio_to_the_others():
    opm = opm_after(OPM_SCORES)
    assert opm.discrepancies() == pytest.approx([0.848284, 0.321513, 0.0], abs=1e-6)
    assert opm.drop_probabilities() == pytest.approx(OPM_Q, abs=1e-6)
    # E[p] = apply_prob * q = 0.7 * [0.712071, 0.580378, 0] = [0.498450, 0.406265, 0].
    assert opm.expected_p() == pytest.approx([0.498450, 0.406265, 0.0], abs=1e-6)


def test_opm_four_modalities_and_the_clip_at_one():
    # s = [0.8, 0.4, 0.4, 0.2]:
    #   m0: (2 + 2 + 4) / 3 = 8/3 -> tanh(5/3) = 0.931110
    #   m1, m2: (0.5 + 1 + 2) / 3 = 7/6 -> tanh(1/6) = 0.165140
    #   m3: (0.25 + 0.5 + 0.5) / 3 = 5/12 -> 0
    # q = 0.5 (1 + 0.5 r) = [0.732777, 0.541285, 0.541285, 0].
    opm = opm_after([0.8, 0.4, 0.4, 0.2])
    assert opm.discrepancies() == pytest.approx([0.931110, 0.165140, 0.165140, 0.0], abs=1e-6)
    assert opm.drop_probabilities() == pytest.approx([0.732777, 0.541285, 0.541285, 0.0], abs=1e-6)
    # q_base 0.9: 0.9 * 1.465555 = 1.319 and 0.9 * 1.082570 = 0.974313; the first clips to 1.
    strong = opm_after([0.8, 0.4, 0.4, 0.2], q_base=0.9)
    assert strong.drop_probabilities() == pytest.approx([1.0, 0.974313, 0.974313, 0.0], abs=1e-6)


def test_opm_masks_from_epoch_1_in_a_four_epoch_run():
    # warmup_fraction 0.06: floor(0.06 * 4 + 1/2) = 0 warm-up epochs; epoch 0 has no score yet.
    opm = make_strategy("opm", 3)
    masked_epochs = []
    for epoch in range(4):
        opm.set_progress(epoch, 4)
        assert math.isnan(opm.state()["drop_rate.0"])  # reset at every epoch
        p = torch.cat([opm.sample(32, generator(100 * epoch + b)) for b in range(20)])
        if (p == 1).any():
            masked_epochs.append(epoch)
        # The logged drop rate is the realised share of this epoch's samples.
        assert opm.state()["drop_rate.0"] == pytest.approx(p[:, 0].mean().item())
        opm.observe(OPM_SCORES)
    assert masked_epochs == [1, 2, 3]


def test_opm_warm_up_matches_the_baselines_6_of_100_epochs():
    # floor(0.06 * 100 + 1/2) = 6: epochs 0..5 are warm-up, as `epoch <= 5` in the baseline.
    opm = opm_after(OPM_SCORES, epoch=5, n_epochs=100)
    assert opm.expected_p() == [0.0, 0.0, 0.0]
    assert (torch.cat([opm.sample(32, generator(b)) for b in range(20)]) == 0).all()
    opm.set_progress(6, 100)
    assert opm.expected_p()[0] > 0
    assert (torch.cat([opm.sample(32, generator(b)) for b in range(20)]) == 1).any()


def test_opm_decides_once_per_batch_and_drops_per_sample():
    opm = opm_after(OPM_SCORES)
    n_batches, batch_size = 1000, 64
    draw = generator(0)
    batches = [opm.sample(batch_size, draw) for _ in range(n_batches)]
    acted = torch.tensor([bool((p == 1).any()) for p in batches])
    # A batch OPM acts on has no drop at all with probability 0.287929^64 * 0.419622^64 ~ 1e-59,
    # so "any drop" tells the acting batches: their share is apply_prob = 0.7 (a per-sample
    # decision would put a drop in nearly every batch of 64).
    assert acted.double().mean().item() == pytest.approx(
        0.7, abs=five_se_of_a_share(0.7, n_batches)
    )
    # Inside acting batches, each sample drops modality m with q_m, independently (the
    # baseline's Bernoulli(1 - q) has one draw per sample): rows differ within a batch.
    rows = torch.cat([p for p, a in zip(batches, acted, strict=True) if a])
    for m, q in enumerate(OPM_Q[:2]):
        assert rows[:, m].mean().item() == pytest.approx(q, abs=five_se_of_a_share(q, len(rows)))
    assert (rows[:, 2] == 0).all()
    assert any(0 < p[:, 0].sum() < batch_size for p, a in zip(batches, acted, strict=True) if a)
    # The two leading modalities are dropped independently: P(both) = q0 q1 = 0.413269.
    both = (rows[:, 0] * rows[:, 1]).mean().item()
    assert both == pytest.approx(0.413269, abs=five_se_of_a_share(0.413269, len(rows)))


# --- the static baselines ---------------------------------------------------------------------


def test_uniform_hypercube_draws_each_modality_independently():
    p = make_strategy("uniform_hypercube", 3).sample(N, generator(0))
    # Marginals U(0, 1): mean 1/2 (SE sqrt(1/12 / N) = 0.00144), variance 1/12 (the sample
    # variance has SE sqrt((mu4 - sigma^4) / N) = sqrt((1/80 - 1/144) / N) = 0.000373).
    assert p.mean(dim=0).sub(0.5).abs().max().item() < 5 * 0.00144
    assert p.var(dim=0).sub(1 / 12).abs().max().item() < 5 * 0.000373
    # Independent columns: correlation ~ 0 (SE 1 / sqrt(N) = 0.005); a shared p gives 1.
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        assert abs(correlation(p[:, a], p[:, b])) < 5 * 0.005
    # p_0 - p_1 is triangular on [-1, 1]: P(|p_0 - p_1| > t) = (1 - t)^2, so
    # P(|.| <= 0.5) = 0.75 and P(|.| <= 0.1) = 0.19 (a shared p would give 1 and 1).
    gap = (p[:, 0] - p[:, 1]).abs()
    for t, share in [(0.5, 0.75), (0.1, 0.19)]:
        assert (gap <= t).double().mean().item() == pytest.approx(
            share, abs=five_se_of_a_share(share, N)
        )
    # Both below 1/2: 1/4 (shared: 1/2).
    low = ((p[:, 0] < 0.5) & (p[:, 1] < 0.5)).double().mean().item()
    assert low == pytest.approx(0.25, abs=five_se_of_a_share(0.25, N))


def test_uniform_shares_one_uniform_p_per_sample():
    p = make_strategy("uniform", 3).sample(N, generator(0))
    assert (p == p[:, :1]).all()
    shared = p[:, 0]
    assert shared.mean().item() == pytest.approx(0.5, abs=5 * 0.00144)
    assert shared.var().item() == pytest.approx(1 / 12, abs=5 * 0.000373)
    below = (shared < 0.25).double().mean().item()
    assert below == pytest.approx(0.25, abs=five_se_of_a_share(0.25, N))


def test_dirichlet_marginals_are_those_of_a_symmetric_dirichlet_1():
    # Equal token counts and the default budget (1/M of all tokens): the visible share of
    # modality m is w_m, w ~ Dirichlet(1, 1, 1), and the strategy returns masking
    # probabilities p_m = 1 - w_m. w_m ~ Beta(1, M - 1) = Beta(1, 2) for M = 3:
    # E[w_m] = 1/M = 1/3, Var[w_m] = (M - 1) / (M^2 (M + 1)) = 2/36 = 1/18 = 0.055556, so
    # E[p_m] = 2/3 and Var[p_m] = 1/18. SEs: sqrt(1/18 / N) = 0.001179 for the mean;
    # Beta(1, 2) has E[w^k] = 2 / ((k + 1)(k + 2)), so mu4 = 1/15 - 4/3 * 1/10 + 6/9 * 1/6
    # - 3/81 = 1/135 and the sample variance has SE sqrt((1/135 - 1/324) / N) = 0.000329.
    p = make_strategy("dirichlet", 3).sample(N, generator(0))
    assert p.mean(dim=0).sub(2 / 3).abs().max().item() < 5 * 0.001179
    assert p.var(dim=0).sub(1 / 18).abs().max().item() < 5 * 0.000329
    # Cov(w_i, w_j) = -1 / (M^2 (M + 1)) = -1/36, so corr = -1/36 / (1/18) = -1/2; its SE is
    # about (1 - rho^2) / sqrt(N) = 0.00375.
    assert correlation(p[:, 0], p[:, 1]) == pytest.approx(-0.5, abs=5 * 0.00375)
    # P(w_m > 1/2) = (1 - 1/2)^2 = 1/4, i.e. P(p_m < 1/2) = 1/4.
    low = (p[:, 0] < 0.5).double().mean().item()
    assert low == pytest.approx(0.25, abs=five_se_of_a_share(0.25, N))


def test_dirichlet_budget_scales_by_token_count_and_caps_at_the_whole_modality():
    # M = 2: w_0 ~ U(0, 1), w_1 = 1 - w_0. Tokens [1, 3], visible_fraction 1/4: budget = 1 token.
    # p_0 = 1 - w_0 * 1 / 1 and p_1 = 1 - w_1 * 1 / 3: E[p] = [1/2, 1 - 1/6] = [1/2, 5/6].
    strategy = make_strategy("dirichlet", 2, tokens_per_modality=[1, 3], visible_fraction=0.25)
    p = strategy.sample(N, generator(0))
    se = math.sqrt(1 / 12 / N)  # of mean(w_0); p_1's is a third of it
    assert p[:, 0].mean().item() == pytest.approx(0.5, abs=5 * se)
    assert p[:, 1].mean().item() == pytest.approx(5 / 6, abs=5 * se / 3)
    torch.testing.assert_close((1 - p[:, 0]) * 1 + (1 - p[:, 1]) * 3, torch.ones(N))
    # Tokens [1, 1], visible_fraction 1: budget 2 tokens; visible share min(1, 2 w):
    # p = max(0, 1 - 2 w): P(p = 0) = P(w >= 1/2) = 1/2, E[p] = int_0^1/2 (1 - 2w) dw = 1/4.
    capped = make_strategy("dirichlet", 2, visible_fraction=1.0).sample(N, generator(1))
    zero = (capped[:, 0] == 0).double().mean().item()
    assert zero == pytest.approx(0.5, abs=five_se_of_a_share(0.5, N))
    # Var[max(0, 1 - 2w)] = E[p^2] - 1/16 = int_0^1/2 (1 - 2w)^2 dw - 1/16 = 1/6 - 1/16 = 5/48.
    assert capped[:, 0].mean().item() == pytest.approx(0.25, abs=5 * math.sqrt(5 / 48 / N))


@pytest.mark.parametrize("rate", [0.75, 0.3, 0.0, 1.0])
def test_constant_is_exactly_its_rate(rate):
    strategy = make_strategy("constant", 3, rate=rate)
    p = strategy.sample(1000, generator(0))
    assert torch.equal(p, torch.full((1000, 3), rate, dtype=torch.float32))
    assert strategy.expected_p() == [rate] * 3


def test_modality_dropout_patterns_have_their_hand_computed_frequencies():
    # M = 3, rate 1/2: every drop pattern has probability 1/8 before the guard. The all-dropped
    # pattern gives one modality back uniformly, so each two-dropped pattern gains 1/8 * 1/3:
    # none dropped 1/8, one given modality dropped 1/8, two given dropped 1/8 + 1/24 = 1/6,
    # all three 0. Per modality: 1/2 - (1/2)^3 / 3 = 11/24 = 0.458333.
    p = make_strategy("modality_dropout", 3, rate=0.5).sample(N, generator(0))
    assert ((p == 0) | (p == 1)).all()
    pattern = (p.long() * torch.tensor([4, 2, 1])).sum(dim=1)
    frequency = torch.bincount(pattern, minlength=8).double() / N
    n_dropped = [bin(k).count("1") for k in range(8)]
    expected = [{0: 1 / 8, 1: 1 / 8, 2: 1 / 6, 3: 0.0}[k] for k in n_dropped]
    assert frequency[7].item() == 0.0
    for observed, wanted in zip(frequency.tolist()[:7], expected[:7], strict=True):
        assert observed == pytest.approx(wanted, abs=five_se_of_a_share(wanted, N))
    for m in range(3):
        assert p[:, m].mean().item() == pytest.approx(11 / 24, abs=five_se_of_a_share(11 / 24, N))


def test_modality_dropout_rate_per_modality_with_two_modalities():
    # M = 2, rate 0.3: P(dropped) = 0.3 - 0.3^2 / 2 = 0.255; never both.
    p = make_strategy("modality_dropout", 2, rate=0.3).sample(N, generator(0))
    assert not (p == 1).all(dim=1).any()
    for m in range(2):
        assert p[:, m].mean().item() == pytest.approx(0.255, abs=five_se_of_a_share(0.255, N))
