"""Shapley values of a cooperative game given as a function of coalitions: pure numpy.

A game maps coalitions, (K, n) bool arrays (row k: which of the n players are in), to values
(K,). `shapley` enumerates all 2^n coalitions up to `exact_max_groups` players; beyond, it
samples permutations in antithetic pairs (a permutation and its reverse), with a standard error
over pairs, doubling their number until no estimate moves by more than `tolerance` or
`max_permutations` are drawn. Both estimators satisfy efficiency exactly: the values sum to
value(full) - value(empty), since every permutation's marginals telescope to that.
`CachedGame` evaluates each distinct coalition once, all new ones of a call in one batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


def all_coalitions(n_players: int) -> np.ndarray:
    """(2^n, n) bool: row r is the coalition whose bit i (player i) is set in r."""
    return (np.arange(2**n_players)[:, None] >> np.arange(n_players)) & 1 == 1


def exact_shapley(values: np.ndarray) -> np.ndarray:
    """Shapley values (n,) from the values (2^n,) of all coalitions, ordered as `all_coalitions`."""
    n = int(math.log2(len(values)))
    assert len(values) == 2**n, f"{len(values)} coalition values is not a power of two"
    masks = np.arange(2**n)
    sizes = all_coalitions(n).sum(axis=1)
    # weight of a coalition S of size s not containing i: s! (n - s - 1)! / n!
    weight = np.array(
        [math.factorial(s) * math.factorial(n - s - 1) for s in range(n)]
    ) / math.factorial(n)
    out = np.empty(n)
    for i in range(n):
        without = masks[(masks >> i) & 1 == 0]
        out[i] = np.sum(weight[sizes[without]] * (values[without | (1 << i)] - values[without]))
    return out


class CachedGame:
    """A game `value(coalitions (K, n) bool) -> (K,)` that evaluates each distinct coalition once,
    all new ones of a call in one batch."""

    def __init__(self, value: Callable[[np.ndarray], np.ndarray], n_players: int):
        self.value, self.n_players = value, n_players
        self.cache: dict[bytes, float] = {}

    @property
    def n_coalitions(self) -> int:
        return len(self.cache)

    def __call__(self, coalitions: np.ndarray) -> np.ndarray:
        coalitions = np.asarray(coalitions, dtype=bool).reshape(-1, self.n_players)
        keys = [row.tobytes() for row in np.packbits(coalitions, axis=1)]
        new = {}
        for key, row in zip(keys, coalitions, strict=True):
            if key not in self.cache:
                new.setdefault(key, row)
        if new:
            values = self.value(np.stack(list(new.values())))
            self.cache.update(zip(new, map(float, values), strict=True))
        return np.array([self.cache[key] for key in keys])


@dataclass
class ShapleyResult:
    values: np.ndarray  # (n,) per player
    se: np.ndarray  # (n,) Monte Carlo standard error; 0 for exact enumeration
    empty: float  # value of the empty coalition
    full: float  # value of the grand coalition
    method: str  # "exact" | "permutation"
    n_permutations: int  # 0 for exact
    converged: bool
    # (permutations, values, se) after each round of doubling: the convergence table.
    trace: list[tuple[int, np.ndarray, np.ndarray]] = field(default_factory=list)


def permutation_orders(n_pairs: int, n_players: int, rng: np.random.Generator) -> np.ndarray:
    """(2 n_pairs, n) orders: each random permutation followed by its reverse (antithetic)."""
    forward = np.argsort(rng.random((n_pairs, n_players)), axis=1)
    return np.stack([forward, forward[:, ::-1]], axis=1).reshape(2 * n_pairs, n_players)


def prefix_coalitions(orders: np.ndarray) -> np.ndarray:
    """(P, n + 1, n) bool: the coalition of the first k players of each order, k = 0..n."""
    n_orders, n = orders.shape
    rank = np.empty_like(orders)
    np.put_along_axis(rank, orders, np.arange(n)[None].repeat(n_orders, axis=0), axis=1)
    return rank[:, None, :] < np.arange(n + 1)[None, :, None]


def permutation_marginals(orders: np.ndarray, prefix_values: np.ndarray) -> np.ndarray:
    """(P, n) marginal contribution of each player in each order, from prefix values (P, n+1)."""
    marginals = np.empty(orders.shape)
    np.put_along_axis(marginals, orders, np.diff(prefix_values, axis=1), axis=1)
    return marginals


def antithetic_mean(marginals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error over antithetic pairs (rows 2k, 2k+1 are a pair)."""
    pairs = marginals.reshape(-1, 2, marginals.shape[1]).mean(axis=1)
    se = (
        pairs.std(axis=0, ddof=1) / math.sqrt(len(pairs))
        if len(pairs) > 1
        else np.full(pairs.shape[1], np.nan)
    )
    return pairs.mean(axis=0), se


def shapley(
    game: CachedGame,
    rng: np.random.Generator,
    exact_max_groups: int = 12,
    min_permutations: int = 16,
    max_permutations: int = 256,
    tolerance: float = 0.005,
) -> ShapleyResult:
    """Shapley values of `game`: exact up to `exact_max_groups` players, else sampled permutations
    doubled until no value moves by more than `tolerance` or `max_permutations` are drawn."""
    n = game.n_players
    empty, full = game(np.stack([np.zeros(n, bool), np.ones(n, bool)]))
    if n <= exact_max_groups:
        values = exact_shapley(game(all_coalitions(n)))
        zero = np.zeros(n)
        return ShapleyResult(values, zero, empty, full, "exact", 0, True, [(0, values, zero)])
    marginals, trace, target = np.empty((0, n)), [], min_permutations
    while True:
        orders = permutation_orders((target - len(marginals)) // 2, n, rng)
        prefix_values = game(prefix_coalitions(orders).reshape(-1, n)).reshape(len(orders), n + 1)
        marginals = np.concatenate([marginals, permutation_marginals(orders, prefix_values)])
        values, se = antithetic_mean(marginals)
        moved = np.abs(values - trace[-1][1]).max() if trace else np.inf
        trace.append((len(marginals), values, se))
        converged = moved <= tolerance
        if converged or len(marginals) >= max_permutations:
            return ShapleyResult(
                values, se, empty, full, "permutation", len(marginals), converged, trace
            )
        target = min(2 * len(marginals), max_permutations)
