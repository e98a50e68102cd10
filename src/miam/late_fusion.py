"""Late fusion: one model per modality, combined at prediction time.

The unimodal model of modality m is the same transformer trained with only m's tokens (the
single-modality oracle where the workflow has one: `miam.pipeline.unimodal_models`). On a
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
  few hundred Adam steps on batches of samples, seeded, on CPU.

A sample with no visible modality (an audio-only subset for a sample without audio): every
unimodal model then sees nothing and gives its prior (the summary token alone), and the
combination weighs all M priors (plain: their mean).
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

from . import pipeline
from .data import DeviceData, generator
from .evaluation import predict_subsets
from .masking import token_visibility
from .metrics import PRIMARY_METRIC, task_metrics
from .runtime import load_model, pick_device
from .split import split_indices
from .subsets import SubsetSpec
from .tokens import TokenSet
from .training import loss_function

log = logging.getLogger(__name__)

MODELS = pipeline.LATE_FUSION_MODELS


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

    def subset(self, s: int) -> tuple[Tensor, Tensor]:
        """(N, M, C) logits and (N, M) visibility of the s-th subset."""
        stacked = torch.stack([z[self.selection[s, m]] for m, z in enumerate(self.logits)], dim=1)
        return stacked, self.visible[s]

    def take(self, rows: np.ndarray) -> UnimodalLogits:
        """The same logits for the samples at positions `rows`."""
        rows = torch.as_tensor(rows)
        return UnimodalLogits(
            self.subsets,
            [z[:, rows] for z in self.logits],
            self.selection,
            self.visible[:, rows],
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
    logits, selections, visible = [], [], []
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
        del model, data
    return UnimodalLogits(names, logits, torch.stack(selections, 1), torch.stack(visible, 2))


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
    optimizer = torch.optim.Adam(combiner.parameters(), lr=lr)
    criterion = loss_function(task, targets)
    draws = generator(seed, "combiner")
    batch_size = min(batch_size, len(logits))
    p = torch.full((batch_size, logits.shape[1]), hide_rate)
    for _ in range(steps):
        batch = torch.randperm(len(logits), generator=draws)[:batch_size]
        visible = token_visibility(p, [1] * logits.shape[1], available[batch], draws)
        loss = criterion(combiner(logits[batch], visible), targets[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return combiner.eval()


def save_combiner(combiner: Combiner, modalities: list[str], seed: int, path: str | Path) -> None:
    torch.save(
        {"weight_logits": combiner.weight_logits.detach(), "modalities": modalities, "seed": seed},
        path,
    )


def load_combiner(path: str | Path) -> tuple[Combiner, list[str]]:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    combiner = Combiner(*checkpoint["weight_logits"].shape)
    combiner.weight_logits.data.copy_(checkpoint["weight_logits"])
    return combiner.eval(), checkpoint["modalities"]


def subset_metrics(
    unimodal: UnimodalLogits, combiner: Combiner, task: str, targets: np.ndarray
) -> pd.DataFrame:
    """Tidy (subset, metric, value) of one combination; one subset's logits in memory at once."""
    rows = []
    with torch.no_grad():
        for s, subset in enumerate(unimodal.subsets):
            fused = combiner(*unimodal.subset(s)).numpy()
            for metric, value in task_metrics(task, fused, targets).items():
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
    """Train the `late_fusion_learned` combiner on the validation split and save it to `out`.

    model_paths: the unimodal models, one per modality in model order.
    Returns (and logs) the validation primary metric, every available modality visible, of
    plain averaging and of the combiner: a check that the fit did what it should.
    """
    token_set = TokenSet.load(tokens)
    modalities = token_set.modality_names
    val = split_indices(split)["val"]
    every_modality = {"all": {m: "all" for m in modalities}}
    unimodal = unimodal_logits(
        model_paths, token_set, val, every_modality, batch_size, pick_device(device)
    )
    logits, available = unimodal.subset(0)
    targets = torch.as_tensor(
        token_set.targets[val],
        dtype=torch.float32 if token_set.task == "multilabel" else torch.int64,
    )
    combiner = train_combiner(logits, available, targets, token_set.task, seed)
    save_combiner(combiner, modalities, seed, out)

    metric = PRIMARY_METRIC[token_set.task]
    plain = Combiner(len(modalities), logits.shape[2]).eval()
    summary = {
        name: float(
            subset_metrics(unimodal, model, token_set.task, token_set.targets[val])
            .set_index("metric")
            .loc[metric, "value"]
        )
        for name, model in zip(MODELS, [plain, combiner], strict=True)
    }
    log.info("validation %s, all modalities: %s", metric, json.dumps(summary))
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
    `miam.pipeline.evaluation_subsets` gives them.
    Returns {"late_fusion": frame, "late_fusion_learned": frame}: the unimodal models run once,
    on all the splits, for both.
    """
    token_set = TokenSet.load(tokens)
    learned, modalities = load_combiner(combiner)
    assert modalities == token_set.modality_names, (
        f"combiner for {modalities}, token set has {token_set.modality_names}"
    )
    combiners = dict(
        zip(MODELS, [Combiner(*learned.weight_logits.shape).eval(), learned], strict=True)
    )
    index = split_indices(split)
    rows = np.concatenate([index[name] for name in splits])
    specs = {name: spec for name, (_, spec) in subsets.items()}
    unimodal = unimodal_logits(model_paths, token_set, rows, specs, batch_size, pick_device(device))
    frames = {name: [] for name in combiners}
    ends = np.cumsum([len(index[name]) for name in splits])
    for split_name, end in zip(splits, ends, strict=True):
        part = unimodal.take(np.arange(end - len(index[split_name]), end))
        for name, model in combiners.items():
            frame = subset_metrics(
                part, model, token_set.task, token_set.targets[index[split_name]]
            )
            frame.insert(0, "split", split_name)
            frame.insert(1, "family", frame["subset"].map({n: f for n, (f, _) in subsets.items()}))
            frames[name].append(frame)
    return {name: pd.concat(parts, ignore_index=True) for name, parts in frames.items()}
