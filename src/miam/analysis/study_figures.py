"""Figures of the study notebook (workflow/notebooks/study.ipynb) from the tables of
miam.analysis.study: (a) the gap to the oracle, (b) MIAM's differences, (c) MIAM's dynamics,
each against the training budget."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from miam.analysis.study import BASELINES, OPTIONS, SUMMARY_COLUMNS


def _errorbar(ax, frame: pd.DataFrame, x: str, label: str, shift: float = 0.0) -> None:
    frame = frame.sort_values(x)
    low = (frame["mean"] - frame["low"]).fillna(0)
    high = (frame["high"] - frame["mean"]).fillna(0)
    ax.errorbar(
        frame[x] * (1 + shift),
        frame["mean"],
        yerr=[low, high],
        marker="o",
        ms=4,
        capsize=3,
        label=label,
    )


def budget_axis(ax, budgets) -> None:
    """A log2 axis with one tick per budget of the study, labelled x1, x4, x16."""
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(budgets), [f"x{b:g}" for b in sorted(budgets)])
    ax.minorticks_off()
    ax.set_xlabel("budget (x demo steps)")


def gap_figure(gaps: pd.DataFrame, models: Sequence[str]) -> Figure:
    """(a) Gap to the oracle against budget, one panel per column, one line per model (demo
    data; the 4x-data point as open markers would crowd it: it is in the table)."""
    demo = gaps[gaps["data"] == 1]
    columns = list(dict.fromkeys(demo["column"]))
    fig, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns), 3.2), squeeze=False)
    for ax, column in zip(axes[0], columns, strict=True):
        for k, model in enumerate(m for m in models if m in set(demo["model"])):
            rows = demo[(demo["model"] == model) & (demo["column"] == column)]
            _errorbar(ax, rows, "budget", model, shift=0.03 * k)
        ax.axhline(0, color="grey", lw=0.8)
        budget_axis(ax, demo["budget"].unique())
        ax.set_title(column, fontsize=9)
    axes[0][0].set_ylabel("oracle - model (pp)")
    # One legend beside the panels: inside one it would cover the lines.
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0, 0.88, 1))
    fig.legend(handles, labels, fontsize=8, loc="center left", bbox_to_anchor=(0.88, 0.5))
    return fig


def difference_figure(diffs: pd.DataFrame) -> Figure:
    """(b) MIAM - uniform and MIAM - Beta hypercube against budget, one line per lambda (and
    the selected row), one panel per (baseline, column); demo data."""
    demo = diffs[(diffs["data"] == 1) & diffs["a"].str.startswith("miam")]
    demo = demo[~demo["a"].isin([a for a, _ in OPTIONS])]
    panels = [(b, c) for b in BASELINES for c in SUMMARY_COLUMNS if b in set(demo["b"])]
    fig, axes = plt.subplots(
        len(BASELINES),
        len(SUMMARY_COLUMNS),
        figsize=(3.2 * len(SUMMARY_COLUMNS), 6.2),
        squeeze=False,
    )
    for ax, (b, column) in zip(axes.flat, panels, strict=False):
        rows = demo[(demo["b"] == b) & (demo["column"] == column)]
        for k, a in enumerate(dict.fromkeys(rows["a"])):
            _errorbar(ax, rows[rows["a"] == a], "budget", a, shift=0.03 * k)
        ax.axhline(0, color="grey", lw=0.8)
        budget_axis(ax, demo["budget"].unique())
        ax.set_title(f"MIAM - {b}, {column}", fontsize=9)
        ax.set_ylabel("pp (95 % interval over seeds)")
    axes.flat[0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def dynamics_figure(dynamics: pd.DataFrame, model: str) -> Figure:
    """(c) One row per budget (demo data): r_m, E[p_m] and the share of seeds whose d_m is above
    its floor, against the share of training done, one line per modality."""
    runs = dynamics[(dynamics["model"] == model) & (dynamics["data"] == 1)]
    budgets = sorted(runs["budget"].unique())
    fig, axes = plt.subplots(len(budgets), 3, figsize=(10, 2.6 * len(budgets)), squeeze=False)
    for row, budget in zip(axes, budgets, strict=True):
        at = runs[runs["budget"] == budget].assign(progress=lambda f: f["epoch"] / f["epochs"])
        for modality, curve in at.groupby("modality", sort=False):
            mean = curve.groupby("progress")[["r", "expected_p", "above_floor"]].mean()
            row[0].plot(mean.index, mean["r"], label=modality)
            row[1].plot(mean.index, mean["expected_p"], label=modality)
            row[2].plot(mean.index, mean["above_floor"], label=modality)
        for ax, title in zip(
            row, ("r_m", "E[p_m]", "d_m above its floor (share of seeds)"), strict=True
        ):
            ax.set_title(f"x{budget:g}: {title}", fontsize=9)
            ax.grid(alpha=0.3)
        row[0].axhline(1, color="grey", lw=0.8)
        row[1].axhline(0.5, color="grey", lw=0.8)
        row[2].set_ylim(-0.05, 1.05)
    axes[-1][0].set_xlabel("share of training")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(model, fontsize=10)
    fig.tight_layout()
    return fig
