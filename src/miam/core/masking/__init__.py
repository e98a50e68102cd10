"""Masking strategies: distributions over per-modality masking probabilities p in [0, 1]^M.

    strategy = make_strategy("miam", n_modalities=3, kappa=10.0)
    p = strategy.sample(batch_size, generator)                       # (B, M) float32
    visible = token_visibility(p, tokens_per_modality, present, generator)   # (B, T) bool

Adding a strategy: one module with a `Strategy` subclass decorated by `@register`, imported
below. Only torch, numpy, pandas and pyyaml may be imported here: this runs on bare GPU nodes.
"""

import inspect

# Imported for their @register side effect; their order is the order of STRATEGIES: the paper's
# baselines, its ablation ladder, then the production schedules.
# isort: off
from miam.core.masking import constant, uniform, dirichlet, modality_dropout, opm  # noqa: F401
from miam.core.masking import hypercube, fixed_imbalance, curriculum, deployment  # noqa: F401

# isort: on
from miam.core.masking.base import REGISTRY, Strategy, keep_one_modality, token_visibility
from miam.core.masking.hypercube import sample_corners

STRATEGIES = tuple(REGISTRY)


def make_strategy(name: str, n_modalities: int, **params) -> Strategy:
    """The strategy registered as `name`, for `n_modalities` modalities, with keyword `params`.

    Raises ValueError naming the known strategies on an unknown name, and TypeError naming the
    offending keyword and the accepted ones on an unknown parameter.
    """
    if name not in REGISTRY:
        raise ValueError(f"unknown masking strategy {name!r}; known: {', '.join(STRATEGIES)}")
    cls = REGISTRY[name]
    accepted = list(inspect.signature(cls.__init__).parameters)[2:]  # after self, n_modalities
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise TypeError(
            f"masking strategy {name!r} got unknown parameter(s) {', '.join(unknown)}; "
            f"accepted: {', '.join(accepted)}"
        )
    return cls(n_modalities, **params)


def strategy_from_spec(spec: dict) -> Strategy:
    """Rebuild a strategy from `Strategy.spec()` (as stored in a checkpoint)."""
    params = dict(spec)
    return make_strategy(params.pop("kind"), **params)


__all__ = [
    "STRATEGIES",
    "Strategy",
    "keep_one_modality",
    "make_strategy",
    "sample_corners",
    "strategy_from_spec",
    "token_visibility",
]
