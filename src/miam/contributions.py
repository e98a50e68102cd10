"""What each input contributes: Shapley values of modalities and of token groups.

One masked model scores any input subset, so the contribution of a part of the input is a
Shapley value of the game "metric of the model when only this coalition is visible":

- **modalities**: exact Shapley values over the M modalities, from all 2^M coalitions (the
  empty one is the model's prior: the summary token alone; AUROC 0.5 for a constant score);
- **token groups inside a modality** (`Analysis`): satellite bands, spatial patches, climate and
  Landsat years, tabular variables and variable groups, audio frequency bands. Exact enumeration
  when there are at most `exact_max_groups` groups; otherwise sampled permutations in antithetic
  pairs (a permutation and its reverse), with a standard error over pairs, doubled until no
  estimate moves by more than `tolerance` (the convergence check) or `max_permutations`;
- **temporal context** (`Analysis.context`): the metric as more past years become visible, the
  most recent first.

Every coalition of one analysis is evaluated in batched passes of
`miam.evaluation.predict_subsets` (selectors stacked, each sample embedded once per pass); a
coalition drawn twice is evaluated once. Outputs report the model evaluations (distinct
coalitions x samples). Both estimators satisfy efficiency exactly: the values sum to
metric(full) - metric(empty), since every permutation's marginals telescope to that.

Groups are written against token names (`token_groups`):

- a mapping ``label -> [glob, ...]``: explicit groups, e.g.
  ``{"bioclim": ["bio*"], "soil": ["soil/*"]}``;
- a template, or a list of templates, in which braces mark the part of the token name that names
  the group: ``"{*}/*"`` groups ``NIR/r1c2`` under ``NIR`` (one group per band),
  ``["*/{*}", "{*}"]`` groups ``NIR/r1c2`` and ``r1c2`` under ``r1c2`` (one group per patch,
  whatever the tokenization), ``"climate/{*}"`` gives one group per climate year, ``"{*}"`` one
  group per token, ``"t*{f*}"`` one group per audio frequency band. A token takes the first
  template it matches; tokens matching none stay hidden.

Satellite bands: band groups need one token per (band, patch), which the GeoPlant tokenizer
gives with ``reader_options: {per_band: true}`` (names ``R/r0c0``... ``NIR/r3c3``). We chose that
over zeroing band values inside patch tokens: a masked token is one the model never sees, exactly
as in training, whereas a patch token with one band set to its training mean is an input the model
was never trained on. Without per-band tokens the default `bands` analysis is skipped (logged).

Settings (`ContributionSettings`) come from the config's top-level ``contributions`` block,
overridden per dataset by ``datasets.<name>.contributions``; ``analyses`` there replaces the
reader's defaults (`DEFAULT_ANALYSES`).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from fnmatch import fnmatchcase
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .data import DeviceData, derive_seed
from .evaluation import predict_subsets
from .metrics import PRIMARY_METRIC, task_metrics
from .model import MultimodalTransformer
from .runtime import load_model, pick_device
from .split import split_indices
from .tokens import TokenSet

log = logging.getLogger(__name__)

GroupSpec = "str | list[str] | dict[str, list[str]]"

# Analyses per reader. They are optional: one whose tokens the tokenization lacks (band groups
# without per-band tokens) is skipped with a log line; analyses written in the config are required.
DEFAULT_ANALYSES = {
    "geoplant": {
        "bands": {"modality": "satellite", "groups": "{*}/*"},
        "patches": {"modality": "satellite", "groups": ["*/{*}", "{*}"], "plot": "map"},
        "climate_years": {
            "modality": "timeseries",
            "groups": "climate/{*}",
            "plot": "years",
            "context": True,
        },
        "landsat_years": {
            "modality": "timeseries",
            "groups": "landsat/{*}",
            "plot": "years",
            "context": True,
        },
        "variables": {"modality": "tabular", "groups": "{*}"},
        "variable_groups": {
            "modality": "tabular",
            "groups": {
                "bioclim": ["bio*"],
                "elevation": ["elevation"],
                "landcover": ["landcover/*"],
                "soil": ["soil/*"],
            },
        },
    },
    "taxabench": {
        "image_patches": {"modality": "image", "groups": "{*}", "plot": "map"},
        "satellite_patches": {"modality": "satellite", "groups": ["*/{*}", "{*}"], "plot": "map"},
        "audio_bands": {"modality": "audio", "groups": "t*{f*}"},
        "environment_variables": {"modality": "environment", "groups": "{*}"},
    },
}


@dataclass
class Analysis:
    """One contribution analysis: token groups of one modality (see the module doc)."""

    name: str
    modality: str
    groups: GroupSpec
    # Tokens shown in every coalition (a subset spec, e.g. {"tabular": "all"}); default none, so
    # groups are valued by what they tell the model on their own modality.
    visible: dict = field(default_factory=dict)
    context: bool = False  # also the metric as groups become visible, the last (newest) first
    plot: str = "bar"  # the notebook's figure: bar | years | map
    required: bool = True  # False: skip, with a log line, when the groups match no token

    def __post_init__(self):
        assert self.plot in ("bar", "years", "map"), f"analysis {self.name}: plot {self.plot!r}"


@dataclass
class ContributionSettings:
    split: str = "test"
    samples: int | None = 1000  # evaluation samples drawn (seeded) from the split; None: all
    exact_max_groups: int = 12
    min_permutations: int = 16  # first round of sampled permutations (antithetic pairs x 2)
    max_permutations: int = 256
    tolerance: float = (
        0.005  # converged: no estimate moved more (metric units) in the last doubling
    )
    seed: int = 0  # sample choice and permutation draws (shared by all strategies)
    strategies: list[str] | None = None  # group analyses for these models; None: every model
    batch_size: int = 4096  # rows per forward pass
    max_scores: int = 20_000_000  # scores held at once: coalitions per pass x samples x outputs
    analyses: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: dict | None, reader: str) -> ContributionSettings:
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(
                f"unknown contributions option(s) {sorted(unknown)}; known: {sorted(known)}"
            )
        if "analyses" not in values:
            values["analyses"] = {
                name: {**spec, "required": False} for name, spec in DEFAULT_ANALYSES[reader].items()
            }
        settings = cls(**values)
        if settings.min_permutations < 4 or settings.min_permutations % 2:
            raise ValueError(
                "contributions.min_permutations: an even number >= 4 (antithetic pairs)"
            )
        if settings.max_permutations < settings.min_permutations:
            raise ValueError("contributions.max_permutations must be >= min_permutations")
        return settings

    def analysis_list(self) -> list[Analysis]:
        return [Analysis(name, **spec) for name, spec in self.analyses.items()]


def contribution_options(config: dict, dataset: str) -> dict:
    """The config's `contributions` block overridden by the dataset's, checked; `model_seed` (which
    trained models to analyse) is the workflow's business and is left out."""
    options = {
        **config.get("contributions", {}),
        **config["datasets"][dataset].get("contributions", {}),
    }
    options.pop("model_seed", None)
    ContributionSettings.from_dict(options, config["datasets"][dataset]["reader"])
    return options


# --- Shapley values of a game given as a function of coalitions --------------------------------


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


# --- Games played by a model on token groups ----------------------------------------------------


def _template_regex(template: str) -> re.Pattern:
    """Glob template with one ``{...}`` part -> regex whose group 1 is that part of the name."""
    found = re.fullmatch(r"([^{}]*)\{([^{}]+)\}([^{}]*)", template)
    if not found:
        raise ValueError(f"group template {template!r} needs exactly one {{...}} part")

    def glob(text: str) -> str:
        return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)

    before, label, after = found.groups()
    return re.compile(f"{glob(before)}({glob(label)}){glob(after)}")


def token_groups(
    spec: GroupSpec, token_names: list[str], strict: bool = True
) -> dict[str, list[int]]:
    """Group label -> positions of its tokens in `token_names`, groups in token order.

    An explicit group that matches no token raises when `strict`, else it is left out.
    """
    groups: dict[str, list[int]] = {}
    if isinstance(spec, dict):
        for label, patterns in spec.items():
            patterns = [patterns] if isinstance(patterns, str) else patterns
            groups[label] = [
                i
                for i, name in enumerate(token_names)
                if any(fnmatchcase(name, p) for p in patterns)
            ]
            if not groups[label] and strict:
                raise ValueError(
                    f"group {label!r}: {patterns} match no token of {token_names[:8]}..."
                )
        groups = {label: positions for label, positions in groups.items() if positions}
        seen = [i for positions in groups.values() for i in positions]
        if len(seen) != len(set(seen)):
            raise ValueError(f"groups {list(groups)} overlap: a token may be in one group only")
        return groups
    templates = [_template_regex(t) for t in ([spec] if isinstance(spec, str) else spec)]
    for i, name in enumerate(token_names):
        for template in templates:
            found = template.fullmatch(name)
            if found:
                groups.setdefault(found.group(1), []).append(i)
                break
    return groups


@dataclass
class ResolvedAnalysis:
    analysis: Analysis
    labels: list[str]
    group_selectors: np.ndarray  # (G, T) bool over the model's whole token layout
    visible: np.ndarray  # (T,) bool, shown in every coalition


def resolve_analysis(analysis: Analysis, data: DeviceData) -> ResolvedAnalysis | None:
    """Token selectors of the analysis' groups; None (logged) for an optional one without tokens."""
    names = data.modality_tokens
    if analysis.modality not in names:
        raise ValueError(
            f"analysis {analysis.name!r}: no modality {analysis.modality!r} in {list(names)}"
        )
    groups = token_groups(analysis.groups, names[analysis.modality], strict=analysis.required)
    if not groups:
        message = (
            f"analysis {analysis.name!r}: {analysis.groups!r} match no {analysis.modality} token"
        )
        if analysis.required:
            raise ValueError(message)
        log.info(
            "%s; skipped: the tokenization lacks them (bands need per_band, see module doc)",
            message,
        )
        return None
    modality_order = list(names)
    offset = sum(len(names[m]) for m in modality_order[: modality_order.index(analysis.modality)])
    selectors = np.zeros((len(groups), data.present.shape[1]), dtype=bool)
    for g, positions in enumerate(groups.values()):
        selectors[g, offset + np.asarray(positions)] = True
    visible = np.zeros(selectors.shape[1], dtype=bool)
    if analysis.visible:
        visible = data.selector(analysis.visible).cpu().numpy() & ~selectors.any(axis=0)
    return ResolvedAnalysis(analysis, list(groups), selectors, visible)


class ModelGame:
    """Primary metric of `model` on the samples `index` when only a coalition's groups (and the
    always-visible tokens) are visible; every call evaluates its coalitions in batched passes."""

    def __init__(
        self,
        model: MultimodalTransformer,
        data: DeviceData,
        index: np.ndarray,
        group_selectors: np.ndarray,
        visible: np.ndarray | None = None,
        batch_size: int = 4096,
        max_scores: int = 20_000_000,
    ):
        self.model, self.data, self.batch_size = model, data, batch_size
        self.index = torch.as_tensor(index, device=data.device)
        self.targets = data.targets_numpy[index]
        self.group_selectors = torch.as_tensor(group_selectors, device=data.device)
        self.visible = torch.as_tensor(
            np.zeros(group_selectors.shape[1], bool) if visible is None else visible,
            device=data.device,
        )
        self.metric = PRIMARY_METRIC[data.task]
        # (coalitions, samples, outputs) scores of one pass must fit in `max_scores`
        self.per_pass = max(1, max_scores // (len(index) * model.head[-1].out_features))
        self.evaluations = 0  # coalitions x samples

    def __call__(self, coalitions: np.ndarray) -> np.ndarray:
        coalitions = torch.as_tensor(coalitions, device=self.data.device)
        # (K, G) @ (G, T): a token is shown when one of the coalition's groups holds it
        selectors = (coalitions.float() @ self.group_selectors.float() > 0) | self.visible
        values = []
        for start in range(0, len(selectors), self.per_pass):
            scores = predict_subsets(
                self.model,
                self.data,
                self.index,
                selectors[start : start + self.per_pass],
                self.batch_size,
            )
            values += [
                task_metrics(self.data.task, s.numpy(), self.targets)[self.metric] for s in scores
            ]
        self.evaluations += len(selectors) * len(self.index)
        return np.array(values)


def sample_index(indices: np.ndarray, samples: int | None, seed: int) -> np.ndarray:
    """At most `samples` of `indices` (seeded, sorted); all of them when None."""
    if samples is None or len(indices) <= samples:
        return indices
    rng = np.random.default_rng(derive_seed(seed, "contribution samples"))
    return np.sort(rng.choice(indices, samples, replace=False))


def modality_contributions(
    model: MultimodalTransformer,
    data: DeviceData,
    index: np.ndarray,
    settings: ContributionSettings,
) -> pd.DataFrame:
    """Exact Shapley values of the modalities: all 2^M coalitions, empty one included."""
    names = [m.name for m in data.layout]
    selectors = np.stack([data.selector({m: "all"}).cpu().numpy() for m in names])
    value = ModelGame(model, data, index, selectors, None, settings.batch_size, settings.max_scores)
    result = shapley(CachedGame(value, len(names)), np.random.default_rng(0), len(names))
    return pd.DataFrame(
        {
            "modality": names,
            "shapley": result.values,
            "empty": result.empty,
            "full": result.full,
            "metric": value.metric,
            "samples": len(index),
            "evaluations": value.evaluations,
        }
    )


def group_contributions(
    model: MultimodalTransformer,
    data: DeviceData,
    index: np.ndarray,
    resolved: ResolvedAnalysis,
    settings: ContributionSettings,
) -> dict[str, pd.DataFrame]:
    """Shapley values of one analysis' groups, their convergence table and the context curve."""
    analysis, labels = resolved.analysis, resolved.labels
    value = ModelGame(
        model,
        data,
        index,
        resolved.group_selectors,
        resolved.visible,
        settings.batch_size,
        settings.max_scores,
    )
    game = CachedGame(value, len(labels))
    rng = np.random.default_rng(derive_seed(settings.seed, "contributions", analysis.name))
    result = shapley(
        game,
        rng,
        settings.exact_max_groups,
        settings.min_permutations,
        settings.max_permutations,
        settings.tolerance,
    )
    keys = {"analysis": analysis.name, "modality": analysis.modality}
    convergence = pd.DataFrame(
        [
            {**keys, "permutations": n, "group": label, "shapley": v, "se": s}
            for n, values, se in result.trace
            for label, v, s in zip(labels, values, se, strict=True)
        ]
    )
    context = pd.DataFrame()
    if analysis.context:
        # k = 0..G newest groups visible (groups are in token order: the last is the newest)
        n = len(labels)
        shown = np.arange(n)[None, :] >= n - np.arange(n + 1)[:, None]
        context = pd.DataFrame(
            {
                **keys,
                "visible_groups": np.arange(n + 1),
                "oldest": ["", *labels[::-1]],
                "value": game(shown),
                "metric": value.metric,
            }
        )
    ranks = pd.Series(result.values).rank(ascending=False, method="min").astype(int)
    groups = pd.DataFrame(
        {
            **keys,
            "plot": analysis.plot,
            "group": labels,
            "shapley": result.values,
            "se": result.se,
            "rank": ranks,
            "method": result.method,
            "permutations": result.n_permutations,
            "converged": result.converged,
            "empty": result.empty,
            "full": result.full,
            "metric": value.metric,
            "samples": len(index),
            "coalitions": game.n_coalitions,
            "evaluations": value.evaluations,
        }
    )
    return {"groups": groups, "convergence": convergence, "context": context}


TABLES = ("modalities", "groups", "convergence", "context")


def contribution_targets(datasets: list[str]) -> list[str]:
    """The files the workflow's `all` rule requests: the tables and the notebook, per dataset."""
    return [
        *(f"results/{d}/contributions/{table}.csv" for d in datasets for table in TABLES),
        *(f"results/{d}/reports/contributions.html" for d in datasets),
    ]


def contributions_run(
    models: dict[str, str | Path],
    tokens: str | Path,
    split: str | Path,
    settings: ContributionSettings,
    device: str = "auto",
) -> dict[str, pd.DataFrame]:
    """Tables (`TABLES`) for the trained models `name -> model.pt`, each row keyed by `model`.

    Modality Shapley values for every model; group analyses for `settings.strategies` (all when
    None). All models are scored on the same samples and the same permutations.
    """

    device = pick_device(device)
    token_set = TokenSet.load(tokens)
    index = sample_index(split_indices(split)[settings.split], settings.samples, settings.seed)
    frames: dict[str, list[pd.DataFrame]] = {table: [] for table in TABLES}
    for name, path in models.items():
        model, normalizer, _ = load_model(path, device)
        data = DeviceData(token_set, normalizer, device)
        frames["modalities"].append(
            modality_contributions(model, data, index, settings).assign(model=name)
        )
        log.info("%s: modality Shapley values done", name)
        if settings.strategies is not None and name not in settings.strategies:
            continue
        for analysis in settings.analysis_list():
            resolved = resolve_analysis(analysis, data)
            if resolved is None:
                continue
            for table, frame in group_contributions(model, data, index, resolved, settings).items():
                frames[table].append(frame.assign(model=name))
            log.info("%s: %s done (%d groups)", name, analysis.name, len(resolved.labels))
    return {table: _model_first(parts) for table, parts in frames.items()}


def _model_first(parts: list[pd.DataFrame]) -> pd.DataFrame:
    frame = (
        pd.concat([p for p in parts if len(p)], ignore_index=True)
        if any(len(p) for p in parts)
        else pd.DataFrame(columns=["model"])
    )
    return frame[["model", *[c for c in frame.columns if c != "model"]]]


def modality_table(modalities: pd.DataFrame) -> pd.DataFrame:
    """Rows models, columns modalities (Shapley values), then the empty and full scores."""
    table = modalities.pivot(index="model", columns="modality", values="shapley")
    order = list(dict.fromkeys(modalities["modality"]))
    scores = modalities.groupby("model")[["empty", "full"]].first()
    return table[order].join(scores).loc[list(dict.fromkeys(modalities["model"]))]
