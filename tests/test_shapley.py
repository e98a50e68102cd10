"""The Shapley estimators (miam.analysis.shapley) on games whose values can be computed by hand."""

import math

import numpy as np

from miam.analysis.shapley import (
    CachedGame,
    all_coalitions,
    antithetic_mean,
    exact_shapley,
    permutation_marginals,
    permutation_orders,
    prefix_coalitions,
    shapley,
)


def game_of(value, n):
    """A CachedGame from a function of one coalition (a bool vector)."""
    return CachedGame(lambda coalitions: np.array([value(c) for c in coalitions]), n)


def test_exact_shapley_of_an_additive_game_is_its_weights():
    weights = np.array([0.5, -1.0, 2.0, 0.25])
    values = all_coalitions(4).astype(float) @ weights
    np.testing.assert_allclose(exact_shapley(values), weights, atol=1e-12)


def test_exact_shapley_of_a_symmetric_game_splits_evenly():
    size_value = np.array([0.0, 1.0, 5.0, 6.0, 10.0])  # any function of |S| alone
    values = size_value[all_coalitions(4).sum(axis=1)]
    np.testing.assert_allclose(exact_shapley(values), [2.5] * 4, atol=1e-12)


def test_exact_shapley_of_the_glove_game():
    # player 0 holds a left glove, players 1 and 2 a right one; a pair is worth 1
    values = np.array([float(c[0] and (c[1] or c[2])) for c in all_coalitions(3)])
    np.testing.assert_allclose(exact_shapley(values), [2 / 3, 1 / 6, 1 / 6], atol=1e-12)


def test_prefixes_and_marginals_follow_the_order():
    orders = np.array([[2, 0, 1]])
    prefixes = prefix_coalitions(orders)[0]
    assert prefixes.tolist() == [
        [False, False, False],
        [False, False, True],
        [True, False, True],
        [True, True, True],
    ]
    marginals = permutation_marginals(orders, np.array([[0.0, 3.0, 4.0, 10.0]]))
    assert marginals.tolist() == [[1.0, 6.0, 3.0]]


def test_orders_come_in_antithetic_pairs():
    orders = permutation_orders(5, 7, np.random.default_rng(0))
    assert orders.shape == (10, 7)
    assert (np.sort(orders, axis=1) == np.arange(7)).all()
    assert (orders[1::2] == orders[0::2, ::-1]).all()


def voting_game(weights, quota):
    return lambda coalition: float(weights[coalition].sum() >= quota)


def test_sampled_permutations_are_unbiased_within_their_standard_error():
    weights = np.array([6.0, 5.0, 4.0, 3.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0])
    value = voting_game(weights, quota=13)
    exact = exact_shapley(np.array([value(c) for c in all_coalitions(10)]))
    result = shapley(
        game_of(value, 10),
        np.random.default_rng(1),
        exact_max_groups=0,
        min_permutations=400,
        max_permutations=400,
    )
    assert result.method == "permutation" and result.n_permutations == 400
    # 4 standard errors: a false alarm for one of 10 players has probability < 1e-3
    assert (np.abs(result.values - exact) <= 4 * result.se).all()
    assert (result.se > 0).all() and (result.se < 0.03).all()
    # every permutation telescopes to v(full) - v(empty): efficiency holds exactly
    assert math.isclose(result.values.sum(), result.full - result.empty, abs_tol=1e-12)


def test_antithetic_pairs_cancel_the_variance_of_a_quadratic_game():
    weights = np.linspace(0.1, 1.0, 8)
    value = lambda coalition: weights[coalition].sum() ** 2  # noqa: E731
    exact = exact_shapley(np.array([value(c) for c in all_coalitions(8)]))
    result = shapley(
        game_of(value, 8),
        np.random.default_rng(0),
        exact_max_groups=0,
        min_permutations=4,
        max_permutations=4,
    )
    # marginal in an order plus in its reverse is 2 w_i^2 + 2 w_i sum(others): no noise at all
    np.testing.assert_allclose(result.values, exact, atol=1e-12)
    np.testing.assert_allclose(result.se, 0, atol=1e-12)


def test_convergence_doubles_until_the_estimate_stops_moving():
    value = voting_game(np.array([6.0, 5.0, 4.0, 3.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0]), 13)
    loose = shapley(
        game_of(value, 10),
        np.random.default_rng(0),
        exact_max_groups=0,
        min_permutations=16,
        max_permutations=4096,
        tolerance=0.02,
    )
    counts = [n for n, _, _ in loose.trace]
    assert counts == [16 * 2**k for k in range(len(counts))] and loose.converged
    assert np.abs(loose.trace[-1][1] - loose.trace[-2][1]).max() <= 0.02
    assert loose.n_permutations < 4096
    # no tolerance can be met: it stops at the budget and says it did not converge
    strict = shapley(
        game_of(value, 10),
        np.random.default_rng(0),
        exact_max_groups=0,
        min_permutations=16,
        max_permutations=64,
        tolerance=0.0,
    )
    assert strict.n_permutations == 64 and not strict.converged
    # standard errors shrink like 1 / sqrt(permutations)
    assert strict.trace[-1][2].mean() < strict.trace[0][2].mean()


def test_cached_game_evaluates_each_distinct_coalition_once_in_one_batch():
    calls = []

    def value(coalitions):
        calls.append(len(coalitions))
        return coalitions.sum(axis=1).astype(float)

    game = CachedGame(value, 3)
    rows = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 1], [1, 0, 0]], dtype=bool)
    assert game(rows).tolist() == [1.0, 1.0, 2.0, 1.0]
    assert game(rows[:2]).tolist() == [1.0, 1.0]
    assert calls == [2] and game.n_coalitions == 2


def test_antithetic_mean_of_one_pair_has_no_standard_error():
    mean, se = antithetic_mean(np.array([[1.0, 3.0], [3.0, 1.0]]))
    assert mean.tolist() == [2.0, 2.0] and np.isnan(se).all()
