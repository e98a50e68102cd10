"""Metrics: macro AUROC for presence-absence, top-k accuracy for classification (numpy only)."""

from __future__ import annotations

import numpy as np

PRIMARY_METRIC = {"multilabel": "auroc", "multiclass": "top1"}


def average_ranks(scores: np.ndarray) -> np.ndarray:
    """Ranks (1..N) of each column of `scores` (N, C), ties sharing their average rank."""
    n = scores.shape[0]
    order = np.argsort(scores, axis=0, kind="stable")
    ordered = np.take_along_axis(scores, order, axis=0)
    position = np.broadcast_to(np.arange(n)[:, None], ordered.shape)
    starts_group = np.ones(ordered.shape, dtype=bool)
    starts_group[1:] = ordered[1:] != ordered[:-1]
    ends_group = np.ones(ordered.shape, dtype=bool)
    ends_group[:-1] = starts_group[1:]
    group_start = np.maximum.accumulate(np.where(starts_group, position, 0), axis=0)
    group_end = np.minimum.accumulate(np.where(ends_group, position, n - 1)[::-1], axis=0)[::-1]
    ranks = np.empty(ordered.shape, dtype=np.float64)
    np.put_along_axis(ranks, order, (group_start + group_end) / 2 + 1, axis=0)
    return ranks


def per_class_auroc(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """AUROC per column (Mann-Whitney), NaN where a column lacks positives or negatives."""
    labels = labels.astype(bool)
    n_pos = labels.sum(axis=0).astype(np.float64)
    n_neg = labels.shape[0] - n_pos
    rank_sum = (average_ranks(scores) * labels).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


def macro_auroc(scores: np.ndarray, labels: np.ndarray, classes=None) -> float:
    """Mean AUROC over the classes that have both positives and negatives (or `classes`)."""
    auc = per_class_auroc(scores, labels)
    if classes is not None:
        auc = auc[classes]
    return float(np.nanmean(auc)) if np.isfinite(auc).any() else float("nan")


def top_k_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Share of samples whose true class is among the k highest scores."""
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean())


def task_metrics(task: str, scores: np.ndarray, targets: np.ndarray, classes=None) -> dict:
    """All metrics of a task, primary first."""
    if task == "multilabel":
        return {"auroc": macro_auroc(scores, targets, classes)}
    return {"top1": top_k_accuracy(scores, targets, 1), "top5": top_k_accuracy(scores, targets, 5)}
