"""Masking strategies and token visibility: interface, determinism, and the distributions' shape.

Statistical checks use fixed seeds and tolerances of 5 standard errors of the estimate.
"""

import itertools
import json
import math

import pytest
import torch

from miam.core.masking import (
    STRATEGIES,
    make_strategy,
    sample_corners,
    strategy_from_spec,
    token_visibility,
)

M = 3
# Parameters a strategy cannot do without.
REQUIRED = {"deployment": {"availability": [0.9, 0.5, 0.8]}}
# Unimodal validation scores over four epochs: modality 0 strong and settled, the others weaker
# and still improving.
SCORES = [[0.90, 0.50, 0.40], [0.90, 0.55, 0.50], [0.90, 0.60, 0.55], [0.90, 0.65, 0.62]]


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def five_standard_errors(p: float, n: int) -> float:
    return 5 * math.sqrt(p * (1 - p) / n)


def required(name: str, modality_names=None) -> dict:
    """Parameters a strategy cannot do without; fixed_imbalance favours the second modality."""
    if name == "fixed_imbalance":
        return {"favoured": [(modality_names or ["0", "1"])[1]]}
    return REQUIRED.get(name, {})


def trained(name: str, n_modalities: int = M, standard_errors=None, **params) -> object:
    """A strategy as it stands mid-training: past OPM's warm-up, after several validations."""
    needed = required(name, params.get("modality_names"))
    strategy = make_strategy(name, n_modalities, **{**needed, **params})
    strategy.set_progress(6, 10)
    for scores in SCORES:
        strategy.observe([scores[m % M] for m in range(n_modalities)], standard_errors)
    return strategy


def batched_sample(strategy, n_batches: int, batch_size: int, seed: int) -> torch.Tensor:
    """Draws as the trainer makes them: one `sample` call per batch, one generator."""
    draw = generator(seed)
    return torch.cat([strategy.sample(batch_size, draw) for _ in range(n_batches)])


@pytest.mark.parametrize("name", STRATEGIES)
def test_sample_is_float32_probabilities_of_the_right_shape(name):
    p = trained(name).sample(512, generator(0))
    assert p.shape == (512, M)
    assert p.dtype == torch.float32
    assert ((p >= 0) & (p <= 1)).all()


@pytest.mark.parametrize("name", STRATEGIES)
def test_same_seed_same_draw_different_seed_different_draw(name):
    strategy = trained(name)
    first = strategy.sample(256, generator(0))
    assert torch.equal(first, strategy.sample(256, generator(0)))
    if name == "constant":  # no randomness at all
        assert torch.equal(first, strategy.sample(256, generator(1)))
    else:
        assert not torch.equal(first, strategy.sample(256, generator(1)))


@pytest.mark.parametrize("name", STRATEGIES)
def test_spec_rebuilds_the_same_strategy(name):
    strategy = trained(name, modality_names=["tab", "ts", "sat"])
    spec = json.loads(json.dumps(strategy.spec()))
    assert spec["kind"] == name
    assert strategy_from_spec(spec).spec() == strategy.spec()


@pytest.mark.parametrize("name", STRATEGIES)
def test_state_dict_resumes_bit_identically(name):
    strategy = trained(name)
    resumed = strategy_from_spec(strategy.spec())
    resumed.load_state_dict(json.loads(json.dumps(strategy.state_dict())))
    assert torch.equal(resumed.sample(256, generator(3)), strategy.sample(256, generator(3)))
    assert json.dumps(resumed.state()) == json.dumps(strategy.state())
    # Training goes on identically after the resume.
    strategy.observe([0.9, 0.7, 0.7])
    resumed.observe([0.9, 0.7, 0.7])
    assert torch.equal(resumed.sample(256, generator(4)), strategy.sample(256, generator(4)))


@pytest.mark.parametrize("name", STRATEGIES)
def test_state_logs_expected_p_per_named_modality_matching_the_samples(name):
    strategy = trained(name, modality_names=["tab", "ts", "sat"])
    state = strategy.state()
    assert all(isinstance(value, float) for value in state.values())
    # Per-batch sampling, as in training (OPM decides per batch whether it acts at all).
    n_batches, batch_size = 4000, 5
    mean_p = batched_sample(strategy, n_batches, batch_size, 5).mean(dim=0)
    for m, modality in enumerate(["tab", "ts", "sat"]):
        # A batch's mean p lies in [0, 1], so its variance is <= 1/4; the logged value may itself
        # be an 8192-draw estimate.
        tolerance = 5 * 0.5 * (1 / math.sqrt(n_batches) + 1 / math.sqrt(8192))
        assert state[f"expected_p.{modality}"] == pytest.approx(mean_p[m].item(), abs=tolerance)


@pytest.mark.parametrize("name", STRATEGIES)
def test_every_strategy_accepts_standard_errors_and_checks_their_length(name):
    strategy = trained(name, standard_errors=[0.01, 0.02, float("nan")])
    strategy.observe([0.9, 0.7, 0.7], standard_errors=None)
    with pytest.raises(ValueError, match="standard errors"):
        strategy.observe([0.9, 0.7, 0.7], standard_errors=[0.01, 0.02])
    with pytest.raises(ValueError, match="standard errors"):
        strategy.observe([0.9, 0.7, 0.7], standard_errors=[0.01, -0.02, 0.01])


def test_miam_resumes_bit_identically_with_standard_errors():
    strategy = trained("miam", standard_errors=[0.01, 0.03, 0.02])
    resumed = strategy_from_spec(json.loads(json.dumps(strategy.spec())))
    resumed.load_state_dict(json.loads(json.dumps(strategy.state_dict())))
    assert resumed.speed_floors() == strategy.speed_floors() == [0.01, 0.03, 0.02]
    assert torch.equal(resumed.sample(256, generator(3)), strategy.sample(256, generator(3)))
    assert json.dumps(resumed.state()) == json.dumps(strategy.state())


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="beta_hypercube"):
        make_strategy("miam_typo", M)


def test_unknown_parameter_is_named():
    with pytest.raises(TypeError, match="kapa"):
        make_strategy("miam", M, kapa=10.0)


def test_uniform_shares_one_p_across_modalities():
    p = make_strategy("uniform", M).sample(1000, generator(0))
    assert (p == p[:, :1]).all()
    assert p[:, 0].std() > 0.2  # and it varies between samples


def test_uniform_per_batch_draws_one_p_for_the_whole_batch():
    """MaskSDM-MEE's draw: one p per batch; the default draws one per sample."""
    per_batch = make_strategy("uniform", M, per_batch=True).sample(256, generator(0))
    assert (per_batch == per_batch[0, 0]).all()
    per_sample = make_strategy("uniform", M).sample(256, generator(0))
    assert per_sample[:, 0].unique().numel() == 256


def observed_miam(**options):
    miam = make_strategy("miam", M, lam=1.0, **options)
    for scores in SCORES:
        miam.observe(scores, [0.01] * M)
    return miam


def test_miam_rho_s_above_chance_spreads_a_bounded_score():
    """AUCs of 0.9 / 0.65 / 0.62: from the score rho_s spans 1.26 / 0.91 / 0.87; above chance
    (0.4 / 0.15 / 0.12) it spans 2.0 / 0.75 / 0.60."""
    paper = observed_miam().relative_scores()
    above = observed_miam(rho_s_from="above_chance", chance=0.5).relative_scores()
    excess = [s - 0.5 for s in SCORES[-1]]
    mean_log = sum(math.log(e) for e in excess) / M
    assert above == pytest.approx([math.exp(math.log(e) - mean_log) for e in excess])
    assert max(above) / min(above) > max(paper) / min(paper) * 2
    with pytest.raises(ValueError, match="needs the chance-level score"):
        make_strategy("miam", M, rho_s_from="above_chance")


def test_miam_d_floor_eps_is_the_papers_floor():
    assert observed_miam().speed_floors() == [0.01] * M
    assert observed_miam(d_floor="eps").speed_floors() == [1e-4] * M
    # Modality 0 never moves: with the paper's floor its d is 1e-4, so it counts as settled.
    assert observed_miam(d_floor="eps").imbalance()[0] > observed_miam().imbalance()[0]


def test_modality_dropout_is_corners_only_and_never_drops_everything():
    p = make_strategy("modality_dropout", M, rate=0.9).sample(20000, generator(0))
    assert ((p == 0) | (p == 1)).all()
    assert not (p == 1).all(dim=1).any()


def test_modality_dropout_drops_at_its_rate():
    n, rate = 40000, 0.1
    dropped = make_strategy("modality_dropout", M, rate=rate).sample(n, generator(0))
    # All three dropped (rate^3) gives one modality back: each loses rate^3 / M.
    expected = rate - rate**M / M
    assert dropped.mean(dim=0).sub(expected).abs().max() < five_standard_errors(expected, n)


def test_dirichlet_splits_the_default_budget_of_one_modality_worth_of_tokens():
    p = make_strategy("dirichlet", M).sample(1000, generator(0))
    # Equal token counts, budget 1/M of all tokens: visible shares sum to one modality's worth.
    torch.testing.assert_close((1 - p).sum(dim=1), torch.ones(1000))


def test_dirichlet_never_shows_more_tokens_than_the_budget():
    tokens = torch.tensor([19, 84, 1])
    strategy = make_strategy(
        "dirichlet", M, tokens_per_modality=tokens.tolist(), visible_fraction=0.3
    )
    visible_tokens = ((1 - strategy.sample(5000, generator(0))) * tokens).sum(dim=1)
    assert (visible_tokens <= 0.3 * tokens.sum() + 1e-4).all()


def test_opm_gives_the_weakest_modality_no_drop_and_follows_the_formula():
    opm = trained("opm", n_modalities=2)
    opm.observe([0.9, 0.6])
    r = math.tanh(0.9 / 0.6 - 1)
    assert opm.drop_probabilities() == pytest.approx([0.5 * (1 + 0.5 * r), 0.0])
    n_batches = 4000
    p = batched_sample(opm, n_batches, 8, 0)
    assert (p[:, 1] == 0).all()
    assert ((p == 0) | (p == 1)).all()
    expected = 0.7 * 0.5 * (1 + 0.5 * r)
    # Batches are the independent units: a batch's mean drop share lies in [0, 1].
    assert p[:, 0].mean().item() == pytest.approx(expected, abs=5 * 0.5 / math.sqrt(n_batches))


def test_opm_drops_nothing_during_warmup_or_before_observing():
    opm = make_strategy("opm", M, warmup_fraction=0.5)
    opm.set_progress(6, 10)
    assert (opm.sample(1000, generator(0)) == 0).all()  # no scores yet
    for scores in SCORES:
        opm.observe(scores)
    opm.set_progress(4, 10)  # 0.5 * 10 = 5 warm-up epochs: 0..4
    assert opm.state()["warmup"] == 1.0
    assert all(not (opm.sample(100, generator(seed)) == 1).any() for seed in range(20))
    opm.set_progress(5, 10)
    assert opm.state()["warmup"] == 0.0
    assert any((opm.sample(100, generator(seed)) == 1).any() for seed in range(20))


def test_opm_never_drops_every_modality():
    opm = trained("opm", q_base=1.0, apply_prob=1.0)
    opm.observe([0.9, 0.9, 0.9 - 1e-3])  # two leaders with q = 1
    p = opm.sample(5000, generator(0))
    assert not (p == 1).all(dim=1).any()


def test_curriculum_rate_rises_from_start_to_end():
    curriculum = make_strategy("curriculum", M, start_rate=0.1, end_rate=0.75, ramp_fraction=0.5)
    rates = []
    for epoch in range(11):
        curriculum.set_progress(epoch, 11)
        rates.append(curriculum.rate())
    assert rates[0] == pytest.approx(0.1)
    assert all(later > earlier for earlier, later in itertools.pairwise(rates[:6]))
    assert rates[5:] == pytest.approx([0.75] * 6)
    n = 20000
    p = curriculum.sample(n, generator(0))
    assert (p == p[:, :1]).all()
    # p ~ U(0.5, 1): standard deviation 0.5 / sqrt(12).
    assert p.mean().item() == pytest.approx(0.75, abs=5 * 0.5 / math.sqrt(12 * n))


@pytest.mark.parametrize(
    ("corner_weights", "all_zero", "all_one", "other"),
    [("critical", 1 / 4, 1 / 4, 1 / 12), ("uniform", 1 / 8, 1 / 8, 1 / 8)],
)
def test_miam_corner_frequencies(corner_weights, all_zero, all_one, other):
    n = 60000
    strategy = trained("miam", corner_weights=corner_weights)
    _, corners = strategy.sample_with_corners(n, generator(0))
    corner_index = (corners.long() * torch.tensor([4, 2, 1])).sum(dim=1)  # bits as 0..7
    frequency = torch.bincount(corner_index, minlength=8).double() / n
    expected = [all_zero] + [other] * 6 + [all_one]
    for observed, wanted in zip(frequency.tolist(), expected, strict=True):
        assert observed == pytest.approx(wanted, abs=five_standard_errors(wanted, n))


def test_miam_component_means_match_the_beta_means():
    n = 60000
    strategy = trained("miam")
    p, corners = strategy.sample_with_corners(n, generator(0))
    toward_zero, toward_one = strategy.sharpness()
    for m in range(M):
        b, a = toward_zero[m], toward_one[m]
        near_zero, near_one = p[~corners[:, m], m], p[corners[:, m], m]
        # Beta(1, b): mean 1 / (1 + b), variance b / ((1 + b)^2 (2 + b)); Beta(a, 1) mirrored.
        sd_zero = math.sqrt(b / ((1 + b) ** 2 * (2 + b)))
        sd_one = math.sqrt(a / ((1 + a) ** 2 * (2 + a)))
        assert near_zero.mean().item() == pytest.approx(
            1 / (1 + b), abs=5 * sd_zero / math.sqrt(len(near_zero))
        )
        assert near_one.mean().item() == pytest.approx(
            a / (a + 1), abs=5 * sd_one / math.sqrt(len(near_one))
        )


def test_miam_masks_the_strong_settled_modality_more():
    strategy = trained("miam")
    imbalance = strategy.imbalance()
    assert imbalance[0] > 1 > max(imbalance[1:])
    mean_p = strategy.sample(20000, generator(0)).mean(dim=0)
    assert mean_p[0] > mean_p[1:].max() + 0.05


def test_miam_is_the_beta_hypercube_until_it_has_two_observations():
    miam = make_strategy("miam", M)
    beta = make_strategy("beta_hypercube", M)
    miam.observe(SCORES[0])
    assert torch.equal(miam.sample(1000, generator(0)), beta.sample(1000, generator(0)))
    miam.observe(SCORES[1])
    assert not torch.equal(miam.sample(1000, generator(0)), beta.sample(1000, generator(0)))


def test_beta_hypercube_marginals_are_symmetric_around_one_half():
    strategy = make_strategy("beta_hypercube", M)
    assert strategy.expected_p() == pytest.approx([0.5] * M)
    n = 40000
    mean_p = strategy.sample(n, generator(0)).mean(dim=0)
    assert (mean_p - 0.5).abs().max() < 5 * 0.5 / math.sqrt(n)


def test_fixed_imbalance_masks_the_favoured_modality_less_by_the_closed_form():
    # Raw x: 1/5 for the favoured modality, 5 for the others; over their geometric mean 5^(1/3)
    # the product is 1. With x: Beta(1, kappa / x) at c = 0 (mean x / (x + kappa)) or
    # Beta(kappa x, 1) at c = 1 (mean kappa x / (kappa x + 1)), and each coordinate's corner is 1
    # with probability 1/2 (the corner set is closed under complement).
    strategy = make_strategy(
        "fixed_imbalance", M, modality_names=["tab", "ts", "sat"], favoured=["sat"]
    )
    x_other, x_favoured = 5 / 5 ** (1 / 3), (1 / 5) / 5 ** (1 / 3)
    assert strategy.push() == pytest.approx([x_other, x_other, x_favoured])
    assert math.prod(strategy.push()) == pytest.approx(1.0)

    def expected(x: float, kappa: float = 10.0) -> float:
        return (x / (x + kappa) + kappa * x / (kappa * x + 1)) / 2

    favoured, other = expected(x_favoured), expected(x_other)
    assert favoured < 0.5 < other
    assert strategy.expected_p() == pytest.approx([other, other, favoured])
    n = 40000
    mean_p = strategy.sample(n, generator(0)).mean(dim=0)
    assert mean_p.tolist() == pytest.approx([other, other, favoured], abs=5 * 0.5 / math.sqrt(n))


def test_fixed_imbalance_is_the_beta_hypercube_at_strength_one_and_reverses_below_it():
    names = ["tab", "ts", "sat"]
    at_one = make_strategy(
        "fixed_imbalance", M, modality_names=names, favoured=["sat"], strength=1.0
    )
    beta = make_strategy("beta_hypercube", M)
    assert torch.equal(at_one.sample(1000, generator(0)), beta.sample(1000, generator(0)))
    negative = make_strategy(
        "fixed_imbalance", M, modality_names=names, favoured=["sat"], strength=0.2
    )
    positive = make_strategy(
        "fixed_imbalance", M, modality_names=names, favoured=["sat"], strength=5.0
    )
    # Strength 1/5 inverts every x, and E[p](1/x) = 1 - E[p](x): the push reversed.
    assert negative.push() == pytest.approx([1 / x for x in positive.push()])
    assert negative.expected_p() == pytest.approx([1 - p for p in positive.expected_p()])


def test_fixed_imbalance_refuses_an_unknown_modality():
    with pytest.raises(ValueError, match="favoured modalities"):
        make_strategy("fixed_imbalance", M, modality_names=["tab", "ts", "sat"], favoured=["img"])


def test_miam_handles_64_modalities():
    strategy = trained("miam", n_modalities=64)
    strategy.observe(torch.linspace(0.5, 0.9, 64).tolist())
    n = 10000
    p, corners = strategy.sample_with_corners(n, generator(0))
    assert p.shape == (n, 64)
    all_zero = (~corners.any(dim=1)).double().mean().item()
    all_one = corners.all(dim=1).double().mean().item()
    assert all_zero == pytest.approx(0.25, abs=five_standard_errors(0.25, n))
    assert all_one == pytest.approx(0.25, abs=five_standard_errors(0.25, n))


def test_corner_sampler_is_linear_in_the_number_of_modalities():
    # 2^1000 corners could never be listed; drawing them must still be instant.
    corners = sample_corners(1000, 1000, 0.25, 0.25, generator(0))
    mixed = corners.any(dim=1) & ~corners.all(dim=1)
    assert corners.shape == (1000, 1000)
    assert 0.3 < mixed.double().mean().item() < 0.7


def test_single_modality_hypercubes_pick_either_corner():
    n = 20000
    _, corners = make_strategy("miam", 1).sample_with_corners(n, generator(0))
    assert corners.double().mean().item() == pytest.approx(0.5, abs=five_standard_errors(0.5, n))


def test_missing_tokens_are_never_visible():
    present = torch.rand((512, 6), generator=generator(1)) < 0.5
    p = make_strategy("uniform", M).sample(512, generator(0))
    visible = token_visibility(p, [1, 2, 3], present, generator(2))
    assert not (visible & ~present).any()


def test_every_sample_with_a_present_token_keeps_one_visible():
    present = torch.rand((4096, 6), generator=generator(1)) < 0.3
    p = torch.ones((4096, M))  # everything masked: only the rescue can reveal a token
    visible = token_visibility(p, [1, 2, 3], present, generator(2))
    assert torch.equal(visible.sum(dim=1), present.any(dim=1).long())
    assert not (visible & ~present).any()


def test_the_rescued_token_is_uniform_among_present_tokens():
    n = 20000
    present = torch.ones((n, 4), dtype=torch.bool)
    visible = token_visibility(torch.ones((n, 2)), [1, 3], present, generator(0))
    frequency = visible.double().mean(dim=0)
    assert (frequency - 0.25).abs().max() < five_standard_errors(0.25, n)


def test_visible_share_is_one_minus_p():
    n, tokens_per_modality = 4000, [10, 30]
    present = torch.ones((n, 40), dtype=torch.bool)
    p = torch.tensor([[0.3, 0.8]]).repeat(n, 1)
    visible = token_visibility(p, tokens_per_modality, present, generator(0))
    for share, columns, p_m in [(visible[:, :10], 10, 0.3), (visible[:, 10:], 30, 0.8)]:
        expected = 1 - p_m
        assert share.double().mean().item() == pytest.approx(
            expected, abs=five_standard_errors(expected, n * columns)
        )


def test_token_visibility_is_deterministic_and_leaves_absent_samples_empty():
    present = torch.rand((256, 6), generator=generator(1)) < 0.5
    present[:10] = False
    p = torch.rand((256, M), generator=generator(0))
    first = token_visibility(p, [1, 2, 3], present, generator(5))
    assert torch.equal(first, token_visibility(p, [1, 2, 3], present, generator(5)))
    assert not first[:10].any()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", STRATEGIES)
def test_a_cuda_generator_samples_on_cuda(name):
    cuda_generator = torch.Generator(device="cuda").manual_seed(0)
    p = trained(name).sample(1024, cuda_generator)
    assert p.device.type == "cuda"
    present = torch.ones((1024, 6), dtype=torch.bool, device="cuda")
    visible = token_visibility(p, [1, 2, 3], present, cuda_generator)
    assert visible.device.type == "cuda"


def test_the_trainer_gives_miam_above_chance_the_chance_score_of_its_task():
    from types import SimpleNamespace

    from miam.core.metrics import chance_score
    from miam.runs.training import build_strategy

    assert chance_score("multilabel", 40) == 0.5
    assert chance_score("multiclass", 4) == 0.25
    layout = [SimpleNamespace(name=m) for m in ("a", "b", "c")]
    data = SimpleNamespace(layout=layout, task="multiclass", targets=torch.tensor([0, 3, 1]))
    spec = {"kind": "miam", "rho_s_from": "above_chance"}
    assert build_strategy(spec, data, None).chance == 0.25
    # Without the option the chance score is not needed, and not set.
    assert build_strategy({"kind": "miam"}, data, None).chance is None
