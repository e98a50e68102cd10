"""Late fusion: one model per modality, combined at prediction time.

The unimodal model of modality m is the same transformer trained with only m's tokens (the
single-modality oracle where the workflow has one: `miam.workflow.pipeline.unimodal_models`). On a
subset it sees only the subset's tokens of m, so intra-modality subsets ("bio1 only") reach it
too.

A modality is *visible* for a sample in a subset when at least one of its tokens is both present
and selected. The combined logits of a sample are a weighted mean over its visible modalities:

    z_c = sum_{m visible} w_{m,c} z_{m,c},   w_{m,c} = softmax over visible m of a_{m,c}

- `late_fusion`: a = 0, the plain mean of the visible modalities' logits. For multiclass too we
  average logits (not probabilities): a product of the models' softmax distributions, which
  lets a confident modality outvote an unsure one.
- `late_fusion_learned`: a (M, C) learned on the *validation* split's unimodal logits (stacking:
  the unimodal models have seen, and overfit, the training split), with modality dropout:
  every step each available modality is hidden with probability 1/2, never all of them, so the
  weights are fitted to sparse inputs as well as full ones. The unimodal models stay frozen; a
  few hundred Adam steps on batches of samples, seeded, on CPU. The fit is *cross-fitted*
  (`COMBINER_FOLDS` seeded folds of the validation samples, one combiner fitted on all folds
  but one): each validation sample is scored by the combiner that never saw it, so validation
  figures are out of sample, and test samples by the mean of the fold combiners' outputs.

A sample with no visible modality (an audio-only subset for a sample without audio): the models
of the modalities the subset selects see nothing and give their prior (the summary token alone),
and the combination weighs those priors (plain: their mean). On a subset of one modality, late
fusion is then exactly that modality's model, the sample without it included.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from miam.analysis.rows import LATE_FUSION_MODELS
from miam.core.data import DeviceData, derive_seed, generator
from miam.core.masking import token_visibility
from miam.core.metrics import PRIMARY_METRIC, scored_classes, task_metrics
from miam.core.optim import AdamW
from miam.core.split import split_indices
from miam.core.subsets import SubsetSpec
from miam.core.tokens import TokenSet
from miam.runs.evaluation import predict_subsets
from miam.runs.runtime import load_model, pick_device
from miam.runs.training import loss_function

log = logging.getLogger(__name__)

MODELS = LATE_FUSION_MODELS
COMBINER_FOLDS = 2


@dataclass
class UnimodalLogits:
    """Every unimodal model's logits for some samples under every evaluated subset.

    Subsets that show the same tokens of m share one pass of m's model, so a modality that a
    subset hides costs one entry (its prior), not one pass per subset.
    """

    subsets: list[str]
    logits: list[Tensor]  # per modality m: (U_m, N, C), one per distinct selection of m's tokens
    selection: Tensor  # (S, M) long: subset s uses logits[m][selection[s, m]]
    visible: Tensor  # (S, N, M) bool: modality m visible for sample n in subset s
    selected: Tensor  # (S, M) bool: subset s selects some of modality m's tokens

    def subset(self, s: int) -> tuple[Tensor, Tensor]:
        """(N, M, C) logits and (N, M) the modalities combined for the s-th subset: the visible
        ones; for a sample with none, those the subset selects (their models give their prior)."""
        stacked = torch.stack([z[self.selection[s, m]] for m, z in enumerate(self.logits)], dim=1)
        visible = self.visible[s]
        return stacked, visible | (~visible.any(dim=1, keepdim=True) & self.selected[s])

    def take(self, rows: np.ndarray) -> UnimodalLogits:
        """The same logits for the samples at positions `rows`."""
        rows = torch.as_tensor(rows)
        return UnimodalLogits(
            self.subsets,
            [z[:, rows] for z in self.logits],
            self.selection,
            self.visible[:, rows],
            self.selected,
        )


@torch.no_grad()
def unimodal_logits(
    model_paths: list[str | Path],
    tokens: TokenSet,
    index: np.ndarray,
    subsets: dict[str, SubsetSpec],
    batch_size: int = 4096,
    device: torch.device | str = "cpu",
) -> UnimodalLogits:
    """Logits of each unimodal model (one per modality, in model order) on `index`.

    Model m sees the subset's selection of m's own tokens only; `predict_subsets` does the
    batching. Models are loaded one at a time, so memory holds one model's data at once.
    """
    device = torch.device(device)
    assert len(model_paths) == len(tokens.modalities), (
        f"{len(model_paths)} unimodal models for modalities {tokens.modality_names}"
    )
    names = list(subsets)
    logits, selections, visible, selected = [], [], [], []
    for path, modality in zip(model_paths, tokens.modality_names, strict=True):
        model, normalizer, checkpoint = load_model(path, device)
        assert checkpoint["subset"] == {modality: "all"}, (
            f"{path} was trained on {checkpoint['subset']}, not on {modality!r} alone"
        )
        data = DeviceData(tokens, normalizer, device)
        own = data.selector({modality: "all"})
        selectors = torch.stack([data.selector(subsets[name]) & own for name in names])  # (S, T)
        distinct, selection = torch.unique(selectors, dim=0, return_inverse=True)
        sample_index = torch.as_tensor(index, device=device)
        logits.append(predict_subsets(model, data, sample_index, distinct, batch_size))
        selections.append(selection.cpu())
        # (S, N, T_m): m's tokens that are present and selected
        shown = data.present[sample_index][:, own][None] & selectors[:, own][:, None]
        visible.append(shown.any(dim=2).cpu())
        selected.append(selectors[:, own].any(dim=1).cpu())
        del model, data
    return UnimodalLogits(
        names,
        logits,
        torch.stack(selections, 1),
        torch.stack(visible, 2),
        torch.stack(selected, 1),
    )


class Combiner(nn.Module):
    """Weighted mean of the visible modalities' logits, one weight logit per (modality, class).

    Zero weight logits (the initial state) are plain late fusion.
    """

    def __init__(self, n_modalities: int, n_outputs: int):
        super().__init__()
        self.weight_logits = nn.Parameter(torch.zeros(n_modalities, n_outputs))

    def forward(self, logits: Tensor, visible: Tensor) -> Tensor:
        # logits (N, M, C); visible (N, M). Nothing visible: every model gives its prior.
        visible = visible | ~visible.any(dim=1, keepdim=True)
        scores = self.weight_logits.expand_as(logits).masked_fill(~visible[..., None], -torch.inf)
        return (torch.softmax(scores, dim=1) * logits).sum(dim=1)  # (N, C)


def train_combiner(
    logits: Tensor,
    available: Tensor,
    targets: Tensor,
    task: str,
    seed: int,
    steps: int = 300,
    lr: float = 0.05,
    hide_rate: float = 0.5,
    batch_size: int = 1024,
) -> Combiner:
    """Fit the weights on (N, M, C) unimodal logits with modality dropout; deterministic.

    available: (N, M) bool, the modalities each sample has; samples with none are skipped.
    Each step takes `batch_size` random samples and hides each of their available modalities
    with `hide_rate`, never all (one is then kept at random, as `token_visibility` does with one
    token per modality).
    """
    keep = available.any(dim=1)
    logits, available, targets = logits[keep], available[keep], targets[keep]
    combiner = Combiner(logits.shape[1], logits.shape[2])
    # miam's AdamW without decay is Adam, without torch.optim's import of torch._dynamo (1.5 s).
    optimizer = AdamW(combiner.parameters(), lr=lr, weight_decay=0.0)
    criterion = loss_function(task, targets)
    draws = generator(seed, "combiner")
    batch_size = min(batch_size, len(logits))
    p = torch.full((batch_size, logits.shape[1]), hide_rate)
    for _ in range(steps):
        batch = torch.randperm(len(logits), generator=draws)[:batch_size]
        visible = token_visibility(p, [1] * logits.shape[1], available[batch], draws)
        loss = criterion(combiner(logits[batch], visible), targets[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return combiner.eval()


def combiner_folds(n_samples: int, seed: int, n_folds: int = COMBINER_FOLDS) -> np.ndarray:
    """Fold (0..n_folds-1) of each of `n_samples` validation samples: seeded, balanced."""
    rng = np.random.default_rng(derive_seed(seed, "combiner folds"))
    return rng.permutation(np.arange(n_samples) % n_folds)


class CrossFitted(nn.Module):
    """The fold combiners: samples of a known fold get the combiner fitted without it, others
    (test samples) the mean of all combiners' outputs."""

    def __init__(self, combiners: list[Combiner]):
        super().__init__()
        self.combiners = nn.ModuleList(combiners)

    def forward(self, logits: Tensor, visible: Tensor, folds: Tensor | None = None) -> Tensor:
        if folds is None:
            return torch.stack([c(logits, visible) for c in self.combiners]).mean(dim=0)
        fused = torch.empty(logits.shape[0], logits.shape[2], dtype=logits.dtype)
        for k, combiner in enumerate(self.combiners):
            rows = folds == k
            fused[rows] = combiner(logits[rows], visible[rows])
        return fused


def save_combiner(combiner: CrossFitted, modalities: list[str], seed: int, path: str | Path):
    weights = torch.stack([c.weight_logits.detach() for c in combiner.combiners])
    torch.save({"weight_logits": weights, "modalities": modalities, "seed": seed}, path)


def load_combiner(path: str | Path) -> tuple[CrossFitted, list[str], int]:
    """(cross-fitted combiner, its modalities, the seed its folds were drawn with)."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    combiners = []
    for weights in checkpoint["weight_logits"]:
        combiner = Combiner(*weights.shape)
        combiner.weight_logits.data.copy_(weights)
        combiners.append(combiner.eval())
    return CrossFitted(combiners).eval(), checkpoint["modalities"], checkpoint["seed"]


def subset_metrics(
    unimodal: UnimodalLogits,
    combiner: Combiner | CrossFitted,
    task: str,
    targets: np.ndarray,
    classes: np.ndarray | None = None,
    folds: Tensor | None = None,
) -> pd.DataFrame:
    """Tidy (subset, metric, value) of one combination; one subset's logits in memory at once.

    folds: for a cross-fitted combiner, each sample's validation fold (None: test samples).
    """
    extra = {} if isinstance(combiner, Combiner) else {"folds": folds}
    rows = []
    with torch.no_grad():
        for s, subset in enumerate(unimodal.subsets):
            fused = combiner(*unimodal.subset(s), **extra).numpy()
            for metric, value in task_metrics(task, fused, targets, classes).items():
                rows.append({"subset": subset, "metric": metric, "value": value})
    return pd.DataFrame(rows, columns=["subset", "metric", "value"])


def train_combiner_run(
    model_paths: list[str | Path],
    tokens: str | Path,
    split: str | Path,
    out: str | Path,
    seed: int,
    batch_size: int = 4096,
    device: str = "auto",
) -> dict:
    """Cross-fit the `late_fusion_learned` combiner on the validation split; save it to `out`.

    model_paths: the unimodal models, one per modality in model order.
    Returns (and logs) the out-of-fold validation primary metric, every available modality
    visible, of plain averaging and of the combiner: a check that the fit did what it should.
    """
    token_set = TokenSet.load(tokens)
    modalities = token_set.modality_names
    index = split_indices(split)
    val = index["val"]
    classes = scored_classes(token_set.targets, index)
    every_modality = {"all": {m: "all" for m in modalities}}
    unimodal = unimodal_logits(
        model_paths, token_set, val, every_modality, batch_size, pick_device(device)
    )
    logits, _ = unimodal.subset(0)
    available = unimodal.visible[0]  # a sample with no modality is left out of the fit
    targets = torch.as_tensor(
        token_set.targets[val],
        dtype=torch.float32 if token_set.task == "multilabel" else torch.int64,
    )
    folds = torch.as_tensor(combiner_folds(len(val), seed))
    combiner = CrossFitted(
        [
            train_combiner(
                logits[folds != k], available[folds != k], targets[folds != k], token_set.task, seed
            )
            for k in range(COMBINER_FOLDS)
        ]
    )
    save_combiner(combiner, modalities, seed, out)

    metric = PRIMARY_METRIC[token_set.task]
    plain = Combiner(len(modalities), logits.shape[2]).eval()
    summary = {
        name: float(
            subset_metrics(unimodal, model, token_set.task, token_set.targets[val], classes, folds)
            .set_index("metric")
            .loc[metric, "value"]
        )
        for name, model in zip(MODELS, [plain, combiner], strict=True)
    }
    log.info("out-of-fold validation %s, all modalities: %s", metric, json.dumps(summary))
    return summary


def evaluate_late_fusion(
    model_paths: list[str | Path],
    tokens: str | Path,
    split: str | Path,
    subsets: dict[str, tuple[str, SubsetSpec]],
    combiner: str | Path,
    splits=("val", "test"),
    batch_size: int = 4096,
    device: str = "auto",
) -> dict[str, pd.DataFrame]:
    """Tidy metrics (split, family, subset, metric, value) of both late-fusion models.

    model_paths: the unimodal models, one per modality in model order; combiner: the file
    `train_combiner_run` wrote. subsets: name -> (family, spec), as
    `miam.workflow.pipeline.evaluation_subsets` gives them.
    Returns {"late_fusion": frame, "late_fusion_learned": frame}: the unimodal models run once,
    on all the splits, for both.
    """
    token_set = TokenSet.load(tokens)
    learned, modalities, fold_seed = load_combiner(combiner)
    assert modalities == token_set.modality_names, (
        f"combiner for {modalities}, token set has {token_set.modality_names}"
    )
    plain = Combiner(len(modalities), learned.combiners[0].weight_logits.shape[1]).eval()
    combiners = dict(zip(MODELS, [plain, learned], strict=True))
    index = split_indices(split)
    classes = scored_classes(token_set.targets, index)
    # Validation samples are scored out of fold: by the combiner fitted without them.
    folds = {"val": torch.as_tensor(combiner_folds(len(index["val"]), fold_seed))}
    rows = np.concatenate([index[name] for name in splits])
    specs = {name: spec for name, (_, spec) in subsets.items()}
    unimodal = unimodal_logits(model_paths, token_set, rows, specs, batch_size, pick_device(device))
    frames = {name: [] for name in combiners}
    ends = np.cumsum([len(index[name]) for name in splits])
    for split_name, end in zip(splits, ends, strict=True):
        part = unimodal.take(np.arange(end - len(index[split_name]), end))
        targets = token_set.targets[index[split_name]]
        for name, model in combiners.items():
            frame = subset_metrics(
                part, model, token_set.task, targets, classes, folds.get(split_name)
            )
            frame.insert(0, "split", split_name)
            frame.insert(1, "family", frame["subset"].map({n: f for n, (f, _) in subsets.items()}))
            frames[name].append(frame)
    return {name: pd.concat(parts, ignore_index=True) for name, parts in frames.items()}
