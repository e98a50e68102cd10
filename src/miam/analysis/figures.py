"""Figures of the report notebooks (matplotlib), and the training histories they read.

One style everywhere: MIAM in red, the oracle in black, every other model grey, so the method
the page is about stands out; every value drawn with its spread over seeds (error bars or bands:
± std over seeds for scores, the 95 % t interval for the claims' paired differences). Scores are
in percent, as in the tables. Table figures take the long cells `tables.long_frame` writes
(model, <column>, mean, std, n_seeds, in percent); history figures take `load_histories`. Every
helper returns a pyplot figure, so a notebook shows it inline and `save` writes its PNG.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FormatStrFormatter, MaxNLocator, NullFormatter

from miam.analysis.tables import ORACLE
from miam.runs import checkpoints

MIAM = "miam"
HIGHLIGHT = "#c0392b"  # MIAM
REFERENCE = "#000000"  # the oracle
OTHER = "#8f8f8f"  # every other model
VERDICT_COLOURS = {
    "reproduced": "#1a9850",
    "not reproduced": "#d73027",
    "inconclusive": "#8c8c8c",
}
MODALITY_COLOURS = plt.get_cmap("tab10").colors
PANEL_WIDTH = 2.5  # inches per small-multiple panel
ROW_HEIGHT = 0.21  # inches per model row in a dot panel
SMALL = 8  # font size of tick labels
WARMUP = "#d9d9d9"  # OPM's warm-up epochs, shaded


def text_colour(rgba: Sequence[float]) -> str:
    """Black or white, whichever reads on a cell of colour `rgba` (by its relative luminance)."""
    red, green, blue = rgba[:3]
    return "black" if 0.2126 * red + 0.7152 * green + 0.0722 * blue > 0.45 else "white"


def single_group_note(analysis: str, rows: pd.DataFrame) -> str:
    """Why a contribution analysis with one group is not drawn: a single cell or bar would
    show one number, the one the table above lists."""
    return (
        f"_`{analysis}` ({rows['modality'].iloc[0]}) is not drawn: this dataset has one group "
        f"of it (`{rows['group'].iloc[0]}`), whose value the table above lists._"
    )


def save(fig: Figure, folder: str | Path, name: str) -> Path:
    """Write `<folder>/<name>.png` (the workflow's report collects these); cropped to what is
    drawn, unless the figure's layout was fixed by `grid` (cropping costs one more draw)."""
    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    tight = not getattr(fig, "miam_fixed_layout", False)
    fig.savefig(path, dpi=100, bbox_inches="tight" if tight else None)
    return path


def show(fig: Figure, folder: str | Path, name: str, alt: str) -> None:
    """In a notebook: save the figure as `save` does, then display that PNG with `alt` as its
    alternative text (the HTML export requires one) and close the figure (drawn only once)."""
    from IPython.display import HTML, display

    path = save(fig, folder, name)
    plt.close(fig)
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    display(
        HTML(
            f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}" '
            'style="max-width:100%">'
        )
    )


def model_colour(model: str) -> str:
    if model == MIAM:
        return HIGHLIGHT
    return REFERENCE if model == ORACLE else OTHER


def model_marker(model: str) -> str:
    return {MIAM: "D", ORACLE: "s"}.get(model, "o")


def label_width(labels: Iterable[str]) -> float:
    """Inches that y tick labels of SMALL size need (about 0.065 in per character)."""
    return 0.3 + 0.065 * max((len(str(label)) for label in labels), default=0)


def grid(
    n_panels: int,
    ncols: int,
    panel_height: float,
    left: float = 0.7,
    top: float = 0.35,
    sharey: bool = True,
):
    """A (rows x cols) grid of panels with fixed margins in inches, unused panels hidden.

    Returns (fig, flat list of the used axes, ncols). The layout is computed here, not by
    tight_layout, and `save` then writes the figure as laid out: both would draw every tick of
    every panel once more (most of the CPU time of a many-panel figure).
    """
    ncols = max(1, min(ncols, n_panels))
    nrows = max(1, math.ceil(n_panels / ncols))
    gap_x, gap_y, right, bottom = (0.25 if sharey else 0.7), 0.8, 0.2, 0.5
    width = left + ncols * PANEL_WIDTH + (ncols - 1) * gap_x + right
    height = top + nrows * panel_height + (nrows - 1) * gap_y + bottom
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False, sharey=sharey)
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=bottom / height,
        top=1 - top / height,
        wspace=gap_x / PANEL_WIDTH,
        hspace=gap_y / panel_height,
    )
    fig.miam_fixed_layout = True
    flat = list(axes.flat)
    for ax in flat[n_panels:]:
        ax.set_visible(False)
    return fig, flat[:n_panels], ncols


def cell_matrix(cells: pd.DataFrame, rows, columns, column_key: str, field: str) -> np.ndarray:
    """(len(rows), len(columns)) matrix of one field of the cells; NaN where absent."""
    wide = cells.pivot(index="model", columns=column_key, values=field)
    return wide.reindex(index=list(rows), columns=list(columns)).to_numpy(dtype=float)


def emphasise_tick_labels(ax) -> None:
    for label in ax.get_yticklabels():
        if label.get_text() == MIAM:
            label.set_color(HIGHLIGHT)
            label.set_fontweight("bold")


def dot_panels(
    cells: pd.DataFrame,
    rows: Sequence[str],
    columns: Sequence,
    value_label: str,
    column_key: str = "subset",
    reference: float | None = None,
    ncols: int = 4,
) -> Figure:
    """One panel per column (a subset, `avg`, ...), one row per model: mean ± std over seeds.

    MIAM's mean is repeated as a thin red line across its panel, so every other model reads as
    left (worse) or right (better) of it. `reference`: an x drawn in black (0 for differences).
    """
    means = cell_matrix(cells, rows, columns, column_key, "mean")
    stds = np.nan_to_num(cell_matrix(cells, rows, columns, column_key, "std"))
    fig, axes, ncols = grid(
        len(columns), ncols, ROW_HEIGHT * len(rows) + 0.3, left=label_width(rows)
    )
    y = np.arange(len(rows))[::-1]
    styles: dict[str, list[int]] = {}  # one errorbar call per style: MIAM, oracle, the rest
    for i, model in enumerate(rows):
        styles.setdefault(model if model in (MIAM, ORACLE) else "", []).append(i)
    for j, (ax, column) in enumerate(zip(axes, columns, strict=True)):
        for style, chosen in styles.items():
            ax.errorbar(
                means[chosen, j],
                y[chosen],
                xerr=stds[chosen, j],
                fmt=model_marker(style),
                color=model_colour(style),
                markersize=5 if style == MIAM else 4,
                elinewidth=1.2,
                capsize=2,
                zorder=3 if style == MIAM else 2,
            )
        if MIAM in rows and math.isfinite(means[list(rows).index(MIAM), j]):
            ax.axvline(means[list(rows).index(MIAM), j], color=HIGHLIGHT, lw=0.7, alpha=0.6)
        if reference is not None:
            ax.axvline(reference, color=REFERENCE, lw=0.8)
        ax.set_title(str(column), fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(labelsize=SMALL)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        if j % ncols == 0:
            ax.set_yticks(y, rows)
            emphasise_tick_labels(ax)
        ax.set_xlabel(value_label, fontsize=SMALL)  # every panel: rows of panels read alone
    axes[0].set_ylim(-0.7, len(rows) - 0.3)
    return fig


def paired_gaps(
    scores: pd.DataFrame, models: Sequence[str], columns: Sequence[str], reference: str = ORACLE
) -> pd.DataFrame:
    """Cells (model, subset, mean, std, n_seeds) of model - `reference`, paired per seed.

    scores: per-seed (model, seed, column, value), e.g. `miam.analysis.claims.column_scores`.
    """
    wide = scores[scores["column"].isin(list(columns))].pivot_table(
        index=["column", "seed"], columns="model", values="value"
    )
    records = []
    if reference not in wide.columns:
        return pd.DataFrame(columns=["model", "subset", "mean", "std", "n_seeds"])
    for model in models:
        if model == reference or model not in wide.columns:
            continue
        gaps = (wide[model] - wide[reference]).dropna()
        for column, values in gaps.groupby(level="column"):
            records.append(
                {
                    "model": model,
                    "subset": column,
                    "mean": float(values.mean()),
                    "std": float(values.std(ddof=1)) if len(values) > 1 else math.nan,
                    "n_seeds": len(values),
                }
            )
    return pd.DataFrame(records, columns=["model", "subset", "mean", "std", "n_seeds"])


def claim_label(row) -> str:
    """A short y label of one claims.csv row."""
    column = row["column"]
    if row["group"] == "baselines":
        return f"MIAM − {row['b']} · {column}"
    if row["group"] == "ladder":
        return f"{row['b']} → {row['a']} · {column}"
    if row["group"] == "corners":
        return f"critical − uniform w · {column}"
    return f"oracle − MIAM · {column}"


CLAIM_PANELS = {
    "baselines": "MIAM − baseline (> 0: MIAM better)",
    "ladder": "each step of the principle ladder (> 0: the step helps)",
    "corners": "critical − uniform corner weights (> 0: critical better)",
    "oracle": "gap to the oracle: oracle − MIAM (claim: below the margin)",
}


def claims_figure(claims: pd.DataFrame, oracle_columns: Sequence[str] | None = None) -> Figure:
    """One row per claim: the mean paired difference (pp) with its 95 % t interval over seeds,
    coloured by verdict; grey band: the practical-equivalence margin, dashed: the oracle margin.

    claims: the rows of `claims.csv`. oracle_columns: the gap-to-oracle rows drawn (all when
    None); the table has every subset.
    """
    panels = []
    for group, title in CLAIM_PANELS.items():
        chosen = claims[claims["group"] == group]
        if group == "oracle" and oracle_columns is not None:
            chosen = chosen[chosen["column"].isin(list(oracle_columns))]
        if not chosen.empty:
            panels.append((group, title, chosen))
    if not panels:
        fig, ax = plt.subplots(figsize=(6, 1))
        ax.axis("off")
        ax.text(0.5, 0.5, "No claim could be tested in this run.", ha="center", va="center")
        return fig
    labels = [[claim_label(row) for _, row in chosen.iterrows()] for _, _, chosen in panels]
    left = label_width(label for group in labels for label in group)
    heights = [0.2 * len(chosen) + 0.2 for _, _, chosen in panels]  # inches per panel
    gap, top, bottom, width = 0.75, 0.6, 0.5, left + 5.5
    height = top + sum(heights) + gap * (len(panels) - 1) + bottom
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(width, height),
        squeeze=False,
        gridspec_kw={"height_ratios": heights},
    )
    fig.subplots_adjust(
        left=left / width,
        right=1 - 0.2 / width,
        top=1 - top / height,
        bottom=bottom / height,
        hspace=gap / (sum(heights) / len(panels)),
    )
    fig.miam_fixed_layout = True
    for ax, (group, title, chosen), names in zip(axes[:, 0], panels, labels, strict=True):
        y = np.arange(len(chosen))[::-1]
        mean = chosen["difference"].to_numpy(dtype=float)
        low = np.where(np.isfinite(chosen["ci_low"]), mean - chosen["ci_low"], 0.0)
        high = np.where(np.isfinite(chosen["ci_high"]), chosen["ci_high"] - mean, 0.0)
        for verdict, colour in VERDICT_COLOURS.items():  # one errorbar call per verdict
            pick = (chosen["verdict"] == verdict).to_numpy()
            if pick.any():
                xerr = [low[pick], high[pick]]
                ax.errorbar(mean[pick], y[pick], xerr=xerr, fmt="o", color=colour, ms=4, capsize=2)
        margin = float(chosen["margin"].iloc[0])
        ax.axvline(0, color=REFERENCE, lw=0.8)
        if group == "oracle":
            ax.axvline(margin, color=VERDICT_COLOURS["not reproduced"], lw=0.8, ls="--")
        else:
            ax.axvspan(-margin, margin, color="#d9d9d9", alpha=0.6, lw=0)
        ax.set_yticks(y, names, fontsize=SMALL)
        ax.set_ylim(-0.7, len(chosen) - 0.3)
        ax.set_title(title, fontsize=9, loc="left")
        ax.tick_params(axis="x", labelsize=SMALL)
        ax.grid(axis="x", alpha=0.3)
        ax.set_xlabel("difference (pp)", fontsize=SMALL)  # every panel: each reads alone
    axes[-1, 0].set_xlabel("difference (percentage points), 95 % interval over seeds", fontsize=9)
    handles = [
        Line2D([], [], marker="o", ls="", color=colour, label=verdict)
        for verdict, colour in VERDICT_COLOURS.items()
    ]
    fig.legend(handles=handles, loc="upper center", ncol=3, fontsize=SMALL, frameon=False)
    return fig


def spread_labels(values: Sequence[float], gap: float) -> np.ndarray:
    """Label positions near `values`, in the same order, at least `gap` apart: labels of lines
    that end close together are pushed apart (a cluster stays centred on its lines)."""
    values = np.asarray(values, dtype=float)
    order = np.argsort(values)
    placed = values[order].copy()
    tolerance = 1e-9 * max(gap, 1.0)
    for _ in range(len(placed)):  # merge touching clusters until no two labels overlap
        if np.all(np.diff(placed) >= gap - tolerance):
            break
        clusters = [[0]]
        for i in range(1, len(placed)):
            if placed[i] - placed[clusters[-1][-1]] < gap + tolerance:
                clusters[-1].append(i)
            else:
                clusters.append([i])
        for cluster in clusters:
            centre = values[order][cluster].mean()
            start = centre - gap * (len(cluster) - 1) / 2
            placed[cluster] = start + gap * np.arange(len(cluster))
    spread = np.empty_like(values)
    spread[order] = placed
    return spread


def context_curve(cells: pd.DataFrame, rows: Sequence[str], value_label: str) -> Figure:
    """Metric vs k (most recent climate years visible), one line per model, bars = ± std.

    MIAM red, the others grey, each line named at its right end; names of lines that end close
    together are spread apart, with a thin leader to their line's end.
    """
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    ordered = [r for r in rows if r != MIAM] + ([MIAM] if MIAM in rows else [])
    ends = []
    for row in ordered:
        curve = cells[cells["model"] == row].sort_values("k")
        if curve.empty:
            continue
        ax.errorbar(
            curve["k"],
            curve["mean"],
            yerr=curve["std"].fillna(0),
            marker=model_marker(row),
            markersize=3.5,
            color=model_colour(row),
            lw=2.0 if row == MIAM else 0.9,
            capsize=1.5,
            zorder=3 if row == MIAM else 2,
        )
        last = curve.iloc[-1]
        ends.append((row, float(last["k"]), float(last["mean"])))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("most recent climate years visible (k)")
    ax.set_ylabel(value_label)
    ax.grid(alpha=0.3)
    ax.margins(x=0.05)
    # The layout first: the labels' spacing in data units depends on the axis' final height.
    fig.tight_layout()
    if ends:
        axis_inches = fig.get_figheight() * ax.get_position().height
        low, high = drawn = ax.get_ylim()
        # Room for the labels widens the axis' range, which narrows their spacing in points:
        # spread and widen until the two agree.
        for _ in range(20):
            gap = (9.5 / 72) / axis_inches * (high - low)  # a 7 pt line and its leading
            label_y = spread_labels([y for _, _, y in ends], gap)
            wanted = (min(drawn[0], label_y.min() - gap), max(drawn[1], label_y.max() + gap))
            if np.allclose(wanted, (low, high)):
                break
            low, high = wanted
        x_text = max(k for _, k, _ in ends)
        x_range = x_text - min(cells["k"]) if len(cells) else 1.0
        for (row, k, y), text_y in zip(ends, label_y, strict=True):
            ax.annotate(
                row,
                (k, y),
                xytext=(x_text + 0.12 * max(x_range, 1.0), text_y),
                textcoords="data",
                fontsize=7,
                va="center",
                color=model_colour(row),
                fontweight="bold" if row == MIAM else "normal",
                arrowprops={"arrowstyle": "-", "color": model_colour(row), "lw": 0.4},
                annotation_clip=False,
            )
        ax.set_ylim(low, high)
    return fig


# Training histories. -----------------------------------------------------------------------------


def load_histories(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Concatenate runs' history files (`.../<model>/seed<seed>/history.csv`, see
    miam.runs.checkpoints) with model, seed and best_epoch.

    best_epoch comes from the run's metrics beside each history (NaN when there are none).
    """
    frames = []
    for path in map(Path, paths):
        history = pd.read_csv(path)
        metrics = checkpoints.read_metrics(path.parent)
        best = math.nan if metrics is None else metrics["best_epoch"]
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


def over_seeds(runs: pd.DataFrame, column: str, scale: float = 1.0) -> pd.DataFrame:
    """Per epoch: mean, std (0 with one seed) and count of `column` over seeds, times `scale`."""
    values = runs[["epoch", column]].dropna()
    grouped = (values[column] * scale).groupby(values["epoch"])
    return pd.DataFrame(
        {"mean": grouped.mean(), "std": grouped.std(ddof=1).fillna(0), "n": grouped.count()}
    )


def band(ax, summary: pd.DataFrame, colour, label=None, shift: int = 0, **style) -> None:
    """The mean over seeds as a line, ± std over seeds as a band."""
    x = summary.index.to_numpy() + shift
    ax.plot(x, summary["mean"], color=colour, label=label, **({"lw": 1.4} | style))
    low, high = summary["mean"] - summary["std"], summary["mean"] + summary["std"]
    ax.fill_between(x, low, high, color=colour, alpha=0.18, lw=0)


def epoch_axis(ax) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(labelsize=SMALL)
    ax.grid(alpha=0.3)


def best_epoch_line(ax, runs: pd.DataFrame) -> None:
    """Dotted: the median over seeds of the kept (best) epoch."""
    best = runs.drop_duplicates("seed")["best_epoch"].dropna()
    if len(best):
        ax.axvline(float(best.median()), color=REFERENCE, ls=":", lw=1)


def model_curves(
    histories: pd.DataFrame,
    column: str,
    models: Sequence[str],
    value_label: str,
    scale: float = 100.0,
    ncols: int = 4,
) -> Figure:
    """One panel per model: `column` over epochs, mean ± std over seeds; dotted: best epoch."""
    shown = [m for m in models if histories.loc[histories["model"] == m, column].notna().any()]
    fig, axes, ncols = grid(len(shown), ncols, 1.6)
    for j, (ax, model) in enumerate(zip(axes, shown, strict=True)):
        runs = histories[histories["model"] == model]
        band(ax, over_seeds(runs, column, scale), model_colour(model) if model == MIAM else "C0")
        best_epoch_line(ax, runs)
        ax.set_title(model, fontsize=9, color=model_colour(model) if model == MIAM else "black")
        epoch_axis(ax)
        if j % ncols == 0:
            ax.set_ylabel(value_label, fontsize=SMALL)
        ax.set_xlabel("epoch", fontsize=SMALL)
    return fig


MODALITY_MARKERS = ("o", "s", "^", "v", "D", "P", "X")


def modality_colours(modalities: Sequence[str]) -> dict[str, tuple]:
    return {m: MODALITY_COLOURS[i % len(MODALITY_COLOURS)] for i, m in enumerate(modalities)}


def modality_markers(modalities: Sequence[str]) -> dict[str, dict]:
    """A marker per modality, so lines that coincide (e.g. E[p] = 0.5 for all) stay visible."""
    return {
        m: {"marker": MODALITY_MARKERS[i % len(MODALITY_MARKERS)], "ms": 3.5, "mfc": "none"}
        for i, m in enumerate(modalities)
    }


def modality_legend(fig: Figure, colours: Mapping[str, tuple], extra: Sequence = ()) -> None:
    markers = modality_markers(list(colours))
    handles = [Line2D([], [], color=c, lw=1.4, label=m, **markers[m]) for m, c in colours.items()]
    fig.legend(
        handles=[*handles, *extra],
        loc="upper center",
        ncol=min(6, len(handles) + len(extra)),
        fontsize=SMALL,
        frameon=False,
    )


def coinciding(names: Sequence[str], curves: Sequence[pd.Series], within: float = 0.02) -> str:
    """'all modalities coincide', 'image = satellite = location', or '' when no two of the
    curves are drawn on top of each other (everywhere within `within`: 2 % of a [0, 1] axis)."""
    groups: list[list[int]] = []
    for i, curve in enumerate(curves):
        for group in groups:
            if np.allclose(curve, curves[group[0]], rtol=0, atol=within, equal_nan=True):
                group.append(i)
                break
        else:
            groups.append([i])
    if len(curves) > 1 and len(groups) == 1:
        return "all modalities coincide"
    return "; ".join(" = ".join(names[i] for i in g) for g in groups if len(g) > 1)


def expected_p_panels(histories: pd.DataFrame, models: Sequence[str], ncols: int = 4) -> Figure:
    """One panel per strategy: E[p_m] per modality over epochs (mean ± std over seeds)."""
    modalities = per_modality(histories, "expected_p")
    colours, marks = modality_colours(modalities), modality_markers(modalities)
    shown = [m for m in models if logged(histories, m, "expected_p")]
    fig, axes, ncols = grid(len(shown), ncols, 1.6, top=0.7)
    for j, (ax, model) in enumerate(zip(axes, shown, strict=True)):
        runs = histories[histories["model"] == model]
        curves = [over_seeds(runs, f"expected_p.{modality}") for modality in modalities]
        for modality, curve in zip(modalities, curves, strict=True):
            band(ax, curve, colours[modality], **marks[modality])
        note = coinciding(modalities, [curve["mean"] for curve in curves])
        if note:  # one line hides others: say which, away from the lines
            level = float(np.nanmean([curve["mean"].mean() for curve in curves]))
            ax.text(
                0.03,
                0.88 if level < 0.5 else 0.05,
                note,
                transform=ax.transAxes,
                fontsize=7,
                color=OTHER,
            )
        ax.set_ylim(-0.03, 1.03)
        ax.set_title(model, fontsize=9, color=model_colour(model) if model == MIAM else "black")
        epoch_axis(ax)
        if j % ncols == 0:
            ax.set_ylabel("E[p] (masked share)", fontsize=SMALL)
        ax.set_xlabel("epoch (state after it)", fontsize=SMALL)
    modality_legend(fig, colours)
    return fig


def imbalance_exponent(runs: pd.DataFrame, modality: str) -> pd.Series:
    """lam log r_m after the clip, recovered from the logged Beta parameters:
    kappa_one / kappa_zero = exp(2 x), so x = log(kappa_one / kappa_zero) / 2."""
    return 0.5 * np.log(runs[f"kappa_one.{modality}"] / runs[f"kappa_zero.{modality}"])


def miam_dynamics(histories: pd.DataFrame, model: str = MIAM) -> Figure:
    """MIAM per modality over training, mean ± std over seeds:

    (1) E[p_m], with × where the clip on lam |log r_m| was active (any seed);
    (2) the learning speed d_m (solid) and its floor, the SE of s_m (dashed), log scale; a filled
        dot where d_m is below its floor (the floor is what rho_d uses);
    (3) the clipped imbalance exponent lam log r_m, with the clip ± max_log_imbalance dashed.
    """
    runs = histories[histories["model"] == model].copy()
    modalities = per_modality(runs, "expected_p")
    colours, marks = modality_colours(modalities), modality_markers(modalities)
    fig, axes, _ = grid(3, 3, 2.2, left=0.6, top=0.9, sharey=False)
    p_ax, d_ax, r_ax = axes
    for m in modalities:
        colour = colours[m]
        band(p_ax, over_seeds(runs, f"expected_p.{m}"), colour, **marks[m])
        if f"clipped.{m}" in runs:
            clipped = runs.groupby("epoch")[f"clipped.{m}"].max() > 0
            p = runs.groupby("epoch")[f"expected_p.{m}"].mean()
            p_ax.plot(p.index[clipped], p[clipped], "x", color=colour, ms=7, mew=1.8)
        if f"d.{m}" in runs:
            band(d_ax, over_seeds(runs, f"d.{m}"), colour)
            band(d_ax, over_seeds(runs, f"d_floor.{m}"), colour, ls="--", lw=1.0)
            floored = runs[runs[f"d.{m}"] < runs[f"d_floor.{m}"]]
            means = floored.groupby("epoch")[f"d.{m}"].mean()
            d_ax.plot(means.index, means, "o", color=colour, ms=4)
        if f"kappa_one.{m}" in runs:
            runs[f"exponent.{m}"] = imbalance_exponent(runs, m)
            band(r_ax, over_seeds(runs, f"exponent.{m}"), colour, **marks[m])
    p_ax.set_ylim(-0.03, 1.03)
    p_ax.set_title("E[p]: masked share (× = clipped)", fontsize=9)
    d_ax.set_yscale("log")
    d_ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    d_ax.yaxis.set_minor_formatter(NullFormatter())
    d_ax.set_title("learning speed d (dashed: floor = SE of s)", fontsize=9)
    if "max_log_imbalance" in runs and runs["max_log_imbalance"].notna().any():
        bound = float(runs["max_log_imbalance"].dropna().iloc[0])
        for sign in (-1, 1):
            r_ax.axhline(sign * bound, color=REFERENCE, ls="--", lw=0.9)
    r_ax.axhline(0, color=OTHER, lw=0.6)
    r_ax.set_title("λ log r after the clip (dashed: ± clip)", fontsize=9)
    for ax in axes:
        epoch_axis(ax)
        ax.set_xlabel("epoch (state after it)", fontsize=SMALL)
        best_epoch_line(ax, runs)
    extra = [
        Line2D([], [], ls="", marker="x", color=OTHER, label="clip active"),
        Line2D([], [], ls="", marker="o", color=OTHER, label="d below its floor"),
        Line2D([], [], ls=":", color=REFERENCE, label="best epoch"),
    ]
    modality_legend(fig, colours, extra)
    return fig


def opm_dynamics(histories: pd.DataFrame, model: str = "opm") -> Figure:
    """OPM per modality over training, mean ± std over seeds:

    (1) the realised drop rate in each epoch (solid), and the expected rate set after the epoch
        before (apply probability x q_m, dashed); warm-up epochs shaded;
    (2) the unimodal scores s_m (percent) that decide which modality is dropped.
    """
    runs = histories[histories["model"] == model]
    modalities = per_modality(runs, "drop_rate")
    colours, marks = modality_colours(modalities), modality_markers(modalities)
    fig, axes, _ = grid(2, 2, 2.2, left=0.6, top=0.9, sharey=False)
    rate_ax, s_ax = axes
    for m in modalities:
        band(rate_ax, over_seeds(runs, f"drop_rate.{m}"), colours[m], **marks[m])
        expected = over_seeds(runs, f"expected_p.{m}")  # set after epoch e, used in e + 1
        expected = expected[expected.index < runs["epoch"].max()]
        band(rate_ax, expected, colours[m], shift=1, ls="--", lw=1.0)
        if f"s.{m}" in runs:
            band(s_ax, over_seeds(runs, f"s.{m}", 100.0), colours[m], **marks[m])
    warm_epochs = []
    if "warmup" in runs:
        warm = runs.groupby("epoch")["warmup"].max()
        warm_epochs = list(warm.index[warm > 0])
        for epoch in warm_epochs:
            rate_ax.axvspan(epoch - 0.5, epoch + 0.5, color=WARMUP, alpha=0.6, lw=0)
    rate_ax.set_ylim(-0.03, 1.03)
    rate_ax.set_title("share of samples with the modality dropped", fontsize=9)
    s_ax.set_title("unimodal validation score s (%)", fontsize=9)
    for ax in axes:
        epoch_axis(ax)
        ax.set_xlabel("epoch", fontsize=SMALL)
    extra = [
        Line2D([], [], color=OTHER, label="realised"),
        Line2D([], [], color=OTHER, ls="--", label="expected"),
        *([Patch(color=WARMUP, alpha=0.6, label="warm-up (no drop)")] if warm_epochs else []),
    ]
    modality_legend(fig, colours, extra)
    return fig
