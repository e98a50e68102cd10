"""Figures of the maps page (workflow/notebooks/maps.ipynb): a species' maps side by side per
model and scenario, beside the planted truth, and the agreement with it."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from miam.analysis.figures import model_colour, model_marker
from miam.analysis.map_tables import site_cells

PANEL_INCHES = 1.6


def read_bands(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Band descriptions ("model / scenario") and bands (B, H, W), NaN where nodata."""
    import rasterio

    with rasterio.open(path) as raster:
        values = raster.read(masked=True).astype(np.float32).filled(np.nan)
        return list(raster.descriptions), values


def truth_image(truth: pd.DataFrame, species: str, shape: tuple[int, int]) -> np.ndarray:
    """The planted probability of `species` on the grid (map_tables.site_cells)."""
    image = np.full(shape, np.nan, np.float32)
    cells = site_cells(truth.iloc[:, 0])
    image.flat[cells] = truth[species].to_numpy(np.float32)
    return image


def map_panels(
    images: dict[str, dict[str, np.ndarray]],
    title: str,
    vmax: float | None = None,
    label: str = "probability",
) -> Figure:
    """Rows: models (and "planted truth"), columns: scenarios; one colour scale throughout."""
    rows = list(images)
    columns = list(dict.fromkeys(c for row in images.values() for c in row))
    vmax = vmax or float(np.nanmax([np.nanmax(v) for row in images.values() for v in row.values()]))
    fig, axes = plt.subplots(
        len(rows),
        len(columns),
        figsize=(PANEL_INCHES * len(columns) + 1, PANEL_INCHES * 0.75 * len(rows) + 0.6),
        squeeze=False,
        layout="constrained",
    )
    shown = None
    for i, row in enumerate(rows):
        for j, column in enumerate(columns):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if column in images[row]:
                shown = ax.imshow(images[row][column], vmin=0, vmax=vmax, cmap="viridis")
            else:
                ax.set_frame_on(False)
            if i == 0:
                ax.set_title(column.replace("_", " "), fontsize=8)
            if j == 0:
                ax.set_ylabel(row, fontsize=8)
    fig.colorbar(shown, ax=axes, shrink=0.8, label=label)
    fig.suptitle(title, fontsize=9)
    return fig


def agreement_figure(summary: pd.DataFrame) -> Figure:
    """Rank correlation and mean absolute error with the planted truth, per scenario (x) and
    model (one marker each)."""
    scenarios = list(dict.fromkeys(summary["scenario"]))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained")
    for model, rows in summary.groupby("model", sort=False):
        rows = rows.set_index("scenario").loc[scenarios]
        for ax, field in zip(axes, ("rank_correlation", "mae"), strict=True):
            ax.plot(
                range(len(scenarios)),
                rows[field],
                marker=model_marker(model),
                color=model_colour(model),
                alpha=0.8,
                label=model,
                linewidth=0.8,
            )
    for ax, label in zip(axes, ("rank correlation with truth", "mean absolute error"), strict=True):
        ax.set_xticks(range(len(scenarios)), [s.replace("_", " ") for s in scenarios], rotation=30)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    return fig
