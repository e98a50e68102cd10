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
`miam.runs.evaluation.predict_subsets` (selectors stacked, each sample embedded once per pass); a
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

The estimators are `miam.analysis.shapley`'s (pure numpy, any game); the settings, and the
analyses of each reader, `miam.analysis.contribution_settings`'s. This module holds the games a
model plays on token groups and the run over the trained models.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from miam.analysis.contribution_settings import TABLES, Analysis, ContributionSettings, GroupSpec
from miam.analysis.shapley import CachedGame, shapley
from miam.core.data import DeviceData, derive_seed
from miam.core.metrics import PRIMARY_METRIC, scored_classes, task_metrics
from miam.core.model import MultimodalTransformer
from miam.core.split import split_indices
from miam.core.tokens import TokenSet
from miam.runs.evaluation import predict_subsets
from miam.runs.runtime import load_model, pick_device

log = logging.getLogger(__name__)

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
        classes: np.ndarray | None = None,
    ):
        self.model, self.data, self.batch_size = model, data, batch_size
        self.classes = classes  # macro averages over the dataset's species set
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
                task_metrics(self.data.task, s.numpy(), self.targets, self.classes)[self.metric]
                for s in scores
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
    classes: np.ndarray | None = None,
) -> pd.DataFrame:
    """Exact Shapley values of the modalities: all 2^M coalitions, empty one included."""
    names = [m.name for m in data.layout]
    selectors = np.stack([data.selector({m: "all"}).cpu().numpy() for m in names])
    value = ModelGame(
        model, data, index, selectors, None, settings.batch_size, settings.max_scores, classes
    )
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
    classes: np.ndarray | None = None,
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
        classes,
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
    splits = split_indices(split)
    classes = scored_classes(token_set.targets, splits)  # the species set of every table
    index = sample_index(splits[settings.split], settings.samples, settings.seed)
    frames: dict[str, list[pd.DataFrame]] = {table: [] for table in TABLES}
    for name, path in models.items():
        model, normalizer, _ = load_model(path, device)
        data = DeviceData(token_set, normalizer, device)
        frames["modalities"].append(
            modality_contributions(model, data, index, settings, classes).assign(model=name)
        )
        log.info("%s: modality Shapley values done", name)
        if settings.strategies is not None and name not in settings.strategies:
            continue
        for analysis in settings.analysis_list():
            resolved = resolve_analysis(analysis, data)
            if resolved is None:
                continue
            analysed = group_contributions(model, data, index, resolved, settings, classes)
            for table, frame in analysed.items():
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
