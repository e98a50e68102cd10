"""Metrics: macro AUROC for presence-absence, top-k accuracy for classification (numpy only)."""

from __future__ import annotations

import numpy as np

PRIMARY_METRIC = {"multilabel": "auroc", "multiclass": "top1"}
# Scores (logits) are compared after rounding to this many decimals. A model's logits move in
# their last float32 bits with how its samples were batched (summation order in the kernels,
# ~1e-7): without rounding, samples a model cannot tell apart (the same inputs, or none) would
# tie in one evaluation and not in another, and the ranks AUROC counts would depend on batching.
# (A logit within ~1e-7 of a rounding boundary can still fall on either side: rarely, as 1e-7 is
# 1/5000 of the step.)
SCORE_DECIMALS = 3


def comparable_scores(scores: np.ndarray) -> np.ndarray:
    """`scores` rounded to SCORE_DECIMALS: what every metric compares."""
    return np.round(np.asarray(scores, dtype=np.float64), SCORE_DECIMALS)


def chance_score(task: str, n_classes: int) -> float:
    """The primary metric of a model that knows nothing: AUC 0.5; top-1 1 / C."""
    return 0.5 if task == "multilabel" else 1.0 / n_classes


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


def scored_classes(targets: np.ndarray, splits: dict[str, np.ndarray]) -> np.ndarray | None:
    """Classes every macro average of a dataset is taken over: those with positives and
    negatives in every split (the paper's and MaskSDM's rule). Fixed once from the split, so
    validation, test and every table column average the same species. None for multiclass
    targets (accuracy averages samples, not classes).

    targets: (N, C) presence matrix or (N,) class index; splits: name -> row indices.
    """
    if targets.ndim == 1:
        return None
    keep = np.ones(targets.shape[1], dtype=bool)
    for rows in splits.values():
        positives = targets[rows].astype(bool).sum(axis=0)
        keep &= (positives > 0) & (positives < len(rows))
    return np.flatnonzero(keep)


def auroc_standard_error(scores: np.ndarray, labels: np.ndarray, classes=None) -> float:
    """Standard error of the macro AUROC, from Hanley & McNeil's (1982) per-class variance
    A(1-A) + (n1-1)(Q1-A^2) + (n0-1)(Q2-A^2) over n1 n0, Q1 = A/(2-A), Q2 = 2A^2/(1+A),
    classes taken as independent: sqrt(sum of variances) / K."""
    labels = labels.astype(bool)
    auc = per_class_auroc(scores, labels)
    n1 = labels.sum(axis=0).astype(np.float64)
    n0 = labels.shape[0] - n1
    if classes is not None:
        auc, n1, n0 = auc[classes], n1[classes], n0[classes]
    ok = np.isfinite(auc)
    if not ok.any():
        return float("nan")
    a, n1, n0 = auc[ok], n1[ok], n0[ok]
    q1, q2 = a / (2 - a), 2 * a**2 / (1 + a)
    variance = (a * (1 - a) + (n1 - 1) * (q1 - a**2) + (n0 - 1) * (q2 - a**2)) / (n1 * n0)
    return float(np.sqrt(np.clip(variance, 0, None).sum()) / ok.sum())


def primary_standard_error(task: str, scores: np.ndarray, targets: np.ndarray, classes=None):
    """Standard error of the task's primary metric on these samples (its measurement noise)."""
    scores = comparable_scores(scores)
    if task == "multilabel":
        return auroc_standard_error(scores, targets, classes)
    accuracy = top_k_accuracy(scores, targets, 1)
    return float(np.sqrt(accuracy * (1 - accuracy) / len(targets)))


def top_k_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Share of samples whose true class is among the k highest scores."""
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean())


def task_metrics(task: str, scores: np.ndarray, targets: np.ndarray, classes=None) -> dict:
    """All metrics of a task, primary first, on `comparable_scores`."""
    scores = comparable_scores(scores)
    if task == "multilabel":
        return {"auroc": macro_auroc(scores, targets, classes)}
    return {"top1": top_k_accuracy(scores, targets, 1), "top5": top_k_accuracy(scores, targets, 5)}
