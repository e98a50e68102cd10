"""Figures of the report notebooks (matplotlib), and the training histories they read.

Table figures take the long cells `miam.tables.long_frame` writes (model, <column>, mean, std,
n_seeds, in percent). History figures take `load_histories`: one row per (model, seed, epoch).
Every helper returns a pyplot figure, so a notebook shows it inline and `save` writes its PNG.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .tables import ORACLE

COLUMNS_PER_PANEL = 12
PANEL_SIZE = (3.2, 2.4)  # inches per small-multiple panel
FAINT = {"alpha": 0.35, "linewidth": 0.8}  # seeds after the first
LEGEND_RIGHT = {"fontsize": 7, "loc": "upper left", "bbox_to_anchor": (1.01, 1)}


def save(fig: Figure, folder: str | Path, name: str) -> Path:
    """Write `<folder>/<name>.png` (the workflow's report collects these)."""
    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def colours(names: Sequence[str]) -> dict[str, tuple]:
    """A stable colour per name, in order; the oracle is black."""
    tab20 = plt.get_cmap("tab20").colors
    palette = tab20[0::2] + tab20[1::2]  # the ten dark hues first, then their light pairs
    others = [n for n in names if n != ORACLE]
    mapping = {n: palette[i % len(palette)] for i, n in enumerate(others)}
    mapping[ORACLE] = (0.0, 0.0, 0.0)
    return mapping


def cell_matrix(cells: pd.DataFrame, rows, columns, column_key: str, field: str) -> np.ndarray:
    """(len(rows), len(columns)) matrix of one field of the cells; NaN where absent."""
    wide = cells.pivot(index="model", columns=column_key, values=field)
    return wide.reindex(index=list(rows), columns=list(columns)).to_numpy(dtype=float)


def subset_bars(
    cells: pd.DataFrame,
    rows: Sequence[str],
    columns: Sequence,
    value_label: str,
    column_key: str = "subset",
) -> Figure:
    """Grouped bars: one group per column, one bar per model, error bars = std over seeds."""
    means = cell_matrix(cells, rows, columns, column_key, "mean")
    stds = np.nan_to_num(cell_matrix(cells, rows, columns, column_key, "std"))
    n_panels = max(1, math.ceil(len(columns) / COLUMNS_PER_PANEL))
    per_panel = min(len(columns), COLUMNS_PER_PANEL)
    width = max(4.0, 0.15 * len(rows) * per_panel + 1.0)
    fig, axes = plt.subplots(n_panels, 1, figsize=(width, 2.6 * n_panels), squeeze=False)
    colour = colours(rows)
    bar = 0.8 / len(rows)
    finite = means[np.isfinite(means)]
    bottom = max(0.0, math.floor(float((finite - 5).min()) / 5) * 5) if finite.size else 0.0
    for panel, ax in enumerate(axes[:, 0]):
        chosen = slice(panel * COLUMNS_PER_PANEL, (panel + 1) * COLUMNS_PER_PANEL)
        x = np.arange(len(columns[chosen]))
        for i, row in enumerate(rows):
            ax.bar(
                x + (i - (len(rows) - 1) / 2) * bar,
                means[i, chosen] - bottom,
                bar,
                bottom=bottom,
                yerr=stds[i, chosen],
                color=colour[row],
                label=row,
                error_kw={"linewidth": 0.6},
            )
        ax.set_xticks(x, [str(c) for c in columns[chosen]], rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(value_label)
    axes[0, 0].legend(**LEGEND_RIGHT)
    fig.tight_layout()
    return fig


def oracle_gap(
    cells: pd.DataFrame, subsets: Sequence[str], rows: Sequence[str], value_label: str
) -> Figure | None:
    """Model minus oracle on `subsets` (the weak-modality ones); None without an oracle."""
    if ORACLE not in set(cells["model"]) or not subsets:
        return None
    models = [r for r in rows if r != ORACLE]
    means = cell_matrix(cells, models, subsets, "subset", "mean")
    stds = np.nan_to_num(cell_matrix(cells, models, subsets, "subset", "std"))
    oracle_mean = cell_matrix(cells, [ORACLE], subsets, "subset", "mean")
    oracle_std = np.nan_to_num(cell_matrix(cells, [ORACLE], subsets, "subset", "std"))
    gaps = means - oracle_mean
    errors = np.sqrt(stds**2 + oracle_std**2)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.15 * len(models) * len(subsets) + 1.0), 2.8))
    colour = colours(models)
    bar = 0.8 / len(models)
    x = np.arange(len(subsets))
    for i, model in enumerate(models):
        offset = (i - (len(models) - 1) / 2) * bar
        ax.bar(x + offset, gaps[i], bar, yerr=errors[i], color=colour[model], label=model)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x, subsets, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(f"{value_label} − oracle")
    ax.legend(**LEGEND_RIGHT)
    fig.tight_layout()
    return fig


def context_curve(cells: pd.DataFrame, rows: Sequence[str], value_label: str) -> Figure:
    """Metric vs k (most recent climate years visible), one line per model, band = ± std."""
    fig, ax = plt.subplots(figsize=(5.0, 3.2))
    colour = colours(rows)
    for row in rows:
        curve = cells[cells["model"] == row].sort_values("k")
        std = curve["std"].fillna(0)
        ax.plot(curve["k"], curve["mean"], marker=".", color=colour[row], label=row)
        ax.fill_between(
            curve["k"], curve["mean"] - std, curve["mean"] + std, color=colour[row], alpha=0.15
        )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("most recent climate years visible (k)")
    ax.set_ylabel(value_label)
    ax.legend(**LEGEND_RIGHT)
    fig.tight_layout()
    return fig


# Training histories. -----------------------------------------------------------------------------


def load_histories(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Concatenate `.../<model>/seed<seed>/history.csv` files with model, seed and best_epoch.

    best_epoch comes from the `metrics.json` beside each history (NaN when there is none).
    """
    frames = []
    for path in map(Path, paths):
        history = pd.read_csv(path)
        metrics = path.with_name("metrics.json")
        best = json.loads(metrics.read_text())["best_epoch"] if metrics.exists() else math.nan
        history.insert(0, "model", path.parent.parent.name)
        history.insert(1, "seed", int(path.parent.name.removeprefix("seed")))
        history["best_epoch"] = best
        frames.append(history)
    if not frames:
        raise ValueError("no training histories given")
    return pd.concat(frames, ignore_index=True)


def per_modality(histories: pd.DataFrame, quantity: str) -> list[str]:
    """Modalities logged as `<quantity>.<modality>`, in column order."""
    prefix = f"{quantity}."
    return [c.removeprefix(prefix) for c in histories.columns if c.startswith(prefix)]


def logged(histories: pd.DataFrame, model: str, quantity: str) -> bool:
    """Whether `model` logged `<quantity>.<modality>` values (not only NaN)."""
    columns = [f"{quantity}.{m}" for m in per_modality(histories, quantity)]
    return bool(columns) and histories.loc[histories["model"] == model, columns].notna().any().any()


def seed_lines(ax, runs: pd.DataFrame, column: str, colour, label: str) -> None:
    """The first seed solid and labelled, the others faint."""
    for i, (_, run) in enumerate(runs.groupby("seed")):
        style = {"linewidth": 1.4} if i == 0 else FAINT
        ax.plot(run["epoch"], run[column], color=colour, label=label if i == 0 else None, **style)


def model_lines(
    histories: pd.DataFrame,
    columns: Sequence[str],
    models: Sequence[str],
    titles: Sequence[str] | None = None,
) -> Figure:
    """One panel per history column, one colour per model (e.g. expected_p per modality)."""
    titles = list(titles or columns)
    fig, axes = plt.subplots(
        1, len(columns), figsize=(PANEL_SIZE[0] * len(columns), PANEL_SIZE[1]), squeeze=False
    )
    colour = colours(models)
    for ax, column, title in zip(axes[0], columns, titles, strict=True):
        for model in models:
            runs = histories[histories["model"] == model]
            if runs[column].notna().any():
                seed_lines(ax, runs, column, colour[model], model)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0, -1].legend(**LEGEND_RIGHT)
    fig.tight_layout()
    return fig


def state_lines(histories: pd.DataFrame, model: str, quantities: Sequence[str]) -> Figure:
    """One panel per per-modality quantity of one model, one colour per modality.

    The dotted line marks the first seed's best epoch (the checkpoint that is evaluated).
    """
    runs = histories[histories["model"] == model]
    modalities = per_modality(histories, quantities[0])
    colour = dict(zip(modalities, plt.get_cmap("tab10").colors, strict=False))
    fig, axes = plt.subplots(
        1, len(quantities), figsize=(PANEL_SIZE[0] * len(quantities), PANEL_SIZE[1]), squeeze=False
    )
    best_epoch = runs.sort_values("seed")["best_epoch"].iloc[0]
    for ax, quantity in zip(axes[0], quantities, strict=True):
        for modality in per_modality(histories, quantity):
            seed_lines(ax, runs, f"{quantity}.{modality}", colour.get(modality), modality)
        if math.isfinite(best_epoch):
            ax.axvline(best_epoch, color="grey", linestyle=":", linewidth=1)
        ax.set_title(f"{model}: {quantity}", fontsize=9)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0, -1].legend(**LEGEND_RIGHT)
    fig.tight_layout()
    return fig
