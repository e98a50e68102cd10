"""Figures of the study notebook (workflow/notebooks/study.ipynb) from the tables of
miam.analysis.study: the forest plot of verdicts.csv and MIAM's dynamics."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from miam.analysis.study import BEATS, EQUIVALENT, INCONCLUSIVE, UNTESTABLE, WORSE

VERDICT_COLOURS = {
    BEATS: "tab:green",
    EQUIVALENT: "tab:blue",
    INCONCLUSIVE: "tab:grey",
    WORSE: "tab:red",
    UNTESTABLE: "tab:orange",
}


def forest_figure(verdicts: pd.DataFrame) -> Figure:
    """One panel per benchmark: the rows the finding cites (column `cited`), one line each in
    verdicts.csv's order, mean and 95 % interval coloured by verdict, ±margin shaded."""
    rows = verdicts[verdicts["cited"]]
    benchmarks = list(dict.fromkeys(rows["dataset"]))
    heights = [len(rows[rows["dataset"] == b]) for b in benchmarks]
    fig, axes = plt.subplots(
        len(benchmarks),
        1,
        figsize=(8, 0.25 * sum(heights) + 1.0 * len(benchmarks)),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    for ax, benchmark in zip(axes[:, 0], benchmarks, strict=True):
        shown = rows[rows["dataset"] == benchmark].reset_index(drop=True)
        y = list(range(len(shown)))[::-1]
        for yk, row in zip(y, shown.itertuples(), strict=True):
            colour = VERDICT_COLOURS[row.verdict]
            ax.plot([row.low, row.high], [yk, yk], color=colour, lw=2)
            ax.plot([row.mean], [yk], "o", color=colour, ms=4)
            ax.fill_betweenx([yk - 0.4, yk + 0.4], -row.margin, row.margin, color="0.92", lw=0)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(y, [f"{r.comparison}, {r.subset}" for r in shown.itertuples()], fontsize=7)
        ax.set_title(benchmark, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    axes[-1, 0].set_xlabel("a - b (pp, 95 % paired interval; shaded: ±margin)")
    handles = [
        plt.Line2D([], [], color=colour, marker="o", lw=2, label=verdict)
        for verdict, colour in VERDICT_COLOURS.items()
    ]
    fig.legend(handles=handles, fontsize=7, loc="upper right")
    fig.tight_layout(rect=(0, 0, 0.85, 1))
    return fig


def dynamics_figure(dynamics: pd.DataFrame, model: str) -> Figure:
    """One row per benchmark: r_m, E[p_m] and the share of seeds whose d_m is above its floor,
    against the share of training done, one line per modality."""
    runs = dynamics[dynamics["model"] == model]
    benchmarks = list(dict.fromkeys(runs["benchmark"]))
    fig, axes = plt.subplots(len(benchmarks), 3, figsize=(10, 2.6 * len(benchmarks)), squeeze=False)
    for row, benchmark in zip(axes, benchmarks, strict=True):
        at = runs[runs["benchmark"] == benchmark].assign(
            progress=lambda f: f["epoch"] / f["epochs"]
        )
        for modality, curve in at.groupby("modality", sort=False):
            mean = curve.groupby("progress")[["r", "expected_p", "above_floor"]].mean()
            row[0].plot(mean.index, mean["r"], label=modality)
            row[1].plot(mean.index, mean["expected_p"], label=modality)
            row[2].plot(mean.index, mean["above_floor"], label=modality)
        for ax, title in zip(
            row, ("r_m", "E[p_m]", "d_m above its floor (share of seeds)"), strict=True
        ):
            ax.set_title(f"{benchmark}: {title}", fontsize=9)
            ax.grid(alpha=0.3)
        row[0].axhline(1, color="grey", lw=0.8)
        row[0].set_yscale("log")
        row[1].axhline(0.5, color="grey", lw=0.8)
        row[2].set_ylim(-0.05, 1.05)
        row[0].legend(fontsize=7)
    axes[-1][0].set_xlabel("share of training")
    fig.suptitle(model, fontsize=10)
    fig.tight_layout()
    return fig
