"""Evaluate one model on many input subsets in batched passes.

Each sample is embedded once; its (subset, sample) rows then share that embedding, and rows are
sorted by how many tokens they show, so a batch of "BIO1 only" rows is one token long instead of
padded to the full sequence. Results are a tidy table: subset, metric, value.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from miam.core.data import DeviceData
from miam.core.metrics import PRIMARY_METRIC, primary_standard_error, scored_classes, task_metrics
from miam.core.model import MultimodalTransformer
from miam.core.split import split_indices
from miam.core.subsets import SubsetSpec
from miam.core.tokens import TokenSet
from miam.runs.runtime import autocast, load_model, pick_device


class eval_mode(contextlib.ContextDecorator):
    """Switch a module to eval mode and restore the mode it was found in."""

    def __init__(self, module: torch.nn.Module):
        self.module = module

    def __enter__(self):
        self.was_training = self.module.training
        self.module.eval()

    def __exit__(self, *exc):
        self.module.train(self.was_training)


# Padded tokens (rows x (1 + longest visible length)) per encoder pass on a CPU. Passes of 8-16k
# tokens stay in the caches; at 64k the same work ran 1.3-1.7x slower per token (paper model,
# 1 and 2 threads), which with padding across lengths 2 to 99 made the old 4,096-row passes
# slower than a plain loop of one pass per subset (benchmarks/bench_model.py compares them).
CPU_PASS_TOKENS = 8192
# A pass takes rows longer than its first ones only while padding stays under this share.
PADDING_SLACK = 0.1


def length_passes(
    lengths: Tensor, max_rows: int, max_tokens: int | None, slack: float = PADDING_SLACK
) -> list[tuple[int, int]]:
    """[start, stop) ranges of rows sorted by ascending visible length, one encoder pass each.

    A pass holds at most `max_rows` rows and (when given) `max_tokens` padded tokens, counting
    the summary token, and pads at most a `slack` share of its tokens: rows of very different
    lengths ("BIO1 only" and "all") never share a pass, and rows of one length are not padded.
    """
    passes: list[tuple[int, int]] = []
    start = stop = rows = real = 0  # the open pass: rows [start, stop), its real tokens
    values, counts = torch.unique_consecutive(lengths, return_counts=True)
    for length, count in zip(values.tolist(), counts.tolist(), strict=True):
        width = length + 1
        cap = max_rows if max_tokens is None else min(max_rows, max(1, max_tokens // width))
        while count:
            take = min(count, cap - rows)
            too_padded = (rows + take) * width > (1 + slack) * (real + take * width)
            if rows and (take <= 0 or too_padded):
                passes.append((start, stop))
                start, rows, real = stop, 0, 0
                continue
            stop, rows, real, count = stop + take, rows + take, real + take * width, count - take
            if rows >= cap:
                passes.append((start, stop))
                start, rows, real = stop, 0, 0
    if rows:
        passes.append((start, stop))
    return passes


@torch.no_grad()
def predict_subsets(
    model: MultimodalTransformer,
    data: DeviceData,
    index: Tensor,
    selectors: Tensor,
    batch_size: int = 4096,
    sample_chunk: int = 1024,
    pass_tokens: int | None = None,
) -> Tensor:
    """Scores (S, N, C) of the samples `index` under each token selector (S, T), float32 on CPU.

    A token is visible iff the sample has it and the selector shows it. Each encoder pass holds
    at most `batch_size` rows of similar visible length and, when given, `pass_tokens` padded
    tokens; None: `CPU_PASS_TOKENS` on a CPU, no token limit on a GPU (large launches win there).
    """
    if pass_tokens is None and data.device.type == "cpu":
        pass_tokens = CPU_PASS_TOKENS
    n_subsets = selectors.shape[0]
    out = None
    with eval_mode(model), autocast(data.device):
        for start in range(0, len(index), sample_chunk):
            chunk = index[start : start + sample_chunk]
            shown = data.present[chunk][None] & selectors[:, None]  # (S, b, T)
            # Once per sample, of the tokens some subset shows.
            tokens = model.embed(data.batch(chunk), shown.any(dim=0))
            visible = shown.reshape(n_subsets * len(chunk), -1)  # rows ordered (subset, sample)
            rows = torch.arange(len(chunk), device=data.device).repeat(n_subsets)
            # Short rows with short rows, in passes of a bounded size: padding stays small.
            lengths, order = torch.sort(visible.sum(dim=1), stable=True)
            logits = torch.empty(len(order), model.head[-1].out_features, device=data.device)
            for first, last in length_passes(lengths.cpu(), batch_size, pass_tokens):
                part = order[first:last]
                logits[part] = model.encode(tokens, visible[part], rows[part]).float()
            logits = logits.view(n_subsets, len(chunk), -1).cpu()
            if out is None:
                out = torch.empty(n_subsets, len(index), logits.shape[-1])
            out[:, start : start + len(chunk)] = logits
    return out


def evaluate_subsets(
    model: MultimodalTransformer,
    data: DeviceData,
    index: np.ndarray,
    subsets: dict[str, dict],
    batch_size: int = 4096,
    classes: np.ndarray | None = None,
    standard_errors: bool = False,
) -> pd.DataFrame:
    """Tidy table (subset, metric, value) of the model on every named subset of `index`.

    classes: the classes macro averages are taken over (`metrics.scored_classes`).
    standard_errors: add a `standard_error` column, that of the primary metric (NaN elsewhere).
    """
    names = list(subsets)
    selectors = torch.stack([data.selector(subsets[name], name) for name in names])
    # Names that select the same tokens ("all" and a named subset of everything, a modality's
    # observation and its named subset) are predicted and scored once.
    distinct, which = torch.unique(selectors, dim=0, return_inverse=True)
    logits = predict_subsets(
        model, data, torch.as_tensor(index, device=data.device), distinct, batch_size
    )
    targets = data.targets_numpy[index]
    primary = PRIMARY_METRIC[data.task]
    scored = []  # per distinct selector: (metric, value, standard error)
    for scores in logits.numpy():
        error = (
            primary_standard_error(data.task, scores, targets, classes) if standard_errors else 0
        )
        scored.append(
            [
                (metric, value, error if metric == primary else np.nan)
                for metric, value in task_metrics(data.task, scores, targets, classes).items()
            ]
        )
    rows = []
    for name, k in zip(names, which.tolist(), strict=True):
        for metric, value, error in scored[k]:
            row = {"subset": name, "metric": metric, "value": value}
            if standard_errors:
                row["standard_error"] = error
            rows.append(row)
    columns = ["subset", "metric", "value", *(["standard_error"] if standard_errors else [])]
    return pd.DataFrame(rows, columns=columns)


def evaluate_run(
    model_path,
    tokens,
    split,
    subsets: dict[str, tuple[str, SubsetSpec]],
    splits=("val", "test"),
    batch_size: int = 4096,
    device: str = "auto",
) -> pd.DataFrame:
    """Tidy metrics (split, family, subset, metric, value) of a trained `model.pt`.

    subsets: name -> (family, spec), as `pipeline.evaluation_subsets` gives them. Macro
    averages are over the dataset's `scored_classes`, the same on every split.
    """
    return evaluate_runs(
        {"model": (model_path, subsets)}, tokens, split, splits, batch_size, device
    )["model"]


def evaluate_runs(
    models: dict[str, tuple[str, dict[str, tuple[str, SubsetSpec]]]],
    tokens,
    split,
    splits=("val", "test"),
    batch_size: int = 4096,
    device: str = "auto",
) -> dict[str, pd.DataFrame]:
    """`evaluate_run` for several models on one dataset, loading its tokens once.

    models: name -> (model.pt, subsets); returns name -> tidy frame.
    """
    device = pick_device(device)
    token_set = TokenSet.load(tokens)
    index = split_indices(split)
    classes = scored_classes(token_set.targets, index)
    frames = {}
    for name, (model_path, subsets) in models.items():
        model, normalizer, _ = load_model(model_path, device)
        data = DeviceData(token_set, normalizer, device)
        family = {subset: fam for subset, (fam, _) in subsets.items()}
        specs = {subset: spec for subset, (_, spec) in subsets.items()}
        parts = []
        for split_name in splits:
            frame = evaluate_subsets(model, data, index[split_name], specs, batch_size, classes)
            frame.insert(0, "split", split_name)
            frame.insert(1, "family", frame["subset"].map(family))
            parts.append(frame)
        frames[name] = pd.concat(parts, ignore_index=True)
    return frames
