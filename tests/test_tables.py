"""Paper tables and report notebooks, on small fake evaluation CSVs and training histories."""

from __future__ import annotations

import itertools
import json
import math
import re
import runpy
from pathlib import Path
from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest

from miam.analysis import claims, figures, tables

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]
STRATEGIES = ["uniform", "opm", "miam"]  # config order; opm is never run here
SUBSETS = ["tab", "sat", "tab+sat"]
MODALITIES = ["tab", "sat"]
# value = BASE[model] + OFFSET[subset] + SEED_STEP * seed, so every mean and std is known.
BASE = {
    "uniform": 0.70,
    "beta_hypercube": 0.72,
    "miam_uniform_corners": 0.74,
    "miam": 0.75,
    "late_fusion": 0.60,
    "oracle": 0.80,
}
OFFSET = {"tab": 0.10, "sat": -0.10, "tab+sat": 0.0}
SEED_STEP = 0.01
SEEDS = [0, 1]
VAL_SHIFT = 0.02  # validation scores sit above the test ones


def value(model: str, subset: str, seed: int, split: str = "test") -> float:
    shift = VAL_SHIFT if split == "val" else 0.0
    return BASE[model] + OFFSET[subset] + SEED_STEP * seed + shift


def eval_rows(model: str, seed: int, subsets=SUBSETS, context_years: int = 0) -> pd.DataFrame:
    rows = []
    for split in ("val", "test"):
        for subset in subsets:
            rows.append(("named", subset, value(model, subset, seed, split)))
        for k in range(1, context_years + 1):
            rows.append(("context", f"context_{k}", BASE[model] + 0.01 * k + SEED_STEP * seed))
    frame = pd.DataFrame(rows, columns=["family", "subset", "value"])
    frame.insert(0, "split", np.repeat(["val", "test"], len(rows) // 2))
    frame.insert(0, "seed", seed)
    frame.insert(0, "model", model)
    frame.insert(0, "dataset", "toy")
    frame.insert(6, "metric", "auroc")
    return frame


def write_evaluations(folder: Path, models=("uniform", "miam"), context_years: int = 0) -> list:
    """Eval CSVs laid out like the workflow's: one per strategy and seed, one per oracle subset."""
    paths = []
    for seed in SEEDS:
        for model in models:
            path = folder / "eval" / "train" / model / f"seed{seed}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            eval_rows(model, seed, context_years=context_years).to_csv(path, index=False)
            paths.append(path)
        for subset in SUBSETS:
            path = folder / "eval" / "oracle" / subset / f"seed{seed}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            eval_rows("oracle", seed, subsets=[subset]).to_csv(path, index=False)
            paths.append(path)
    return paths


def write_histories(folder: Path, models=("uniform", "opm", "miam"), epochs: int = 4) -> list:
    """history.csv and metrics.json per strategy and seed, with the columns training logs: one
    row per epoch, s/s_se per modality, each strategy's state (miam, opm) after `masking.state`."""
    paths = []
    for model in models:
        for seed in SEEDS:
            epoch = np.arange(1, epochs + 1)
            wave = 0.5 + 0.4 * np.sin(epoch + seed)  # a focus shift between the two modalities
            history = {"epoch": epoch, "loss": 1 / epoch, "val_auroc": 0.7 + 0.02 * epoch}
            history |= {f"s.{m}": 0.6 + 0.05 * i * epoch for i, m in enumerate(MODALITIES)}
            history |= {f"s_se.{m}": np.full(epochs, 0.02) for m in MODALITIES}
            history |= {"observations": 1}
            history |= {"expected_p.tab": wave, "expected_p.sat": 1 - wave}
            if model == "miam":
                history |= {f"d.{m}": np.r_[np.nan, 0.1 / epoch[1:]] for m in MODALITIES}
                history |= {f"d_floor.{m}": np.full(epochs, 0.03) for m in MODALITIES}
                history |= {f"r.{m}": wave + i for i, m in enumerate(MODALITIES)}
                history |= {"clipped.tab": (epoch == 2).astype(float), "clipped.sat": 0.0}
                history |= {"max_log_imbalance": np.log(5.0)}
                history |= {f"kappa_zero.{m}": 10 / (wave + i) for i, m in enumerate(MODALITIES)}
                history |= {f"kappa_one.{m}": 10 * (wave + i) for i, m in enumerate(MODALITIES)}
            if model == "opm":
                history |= {f"discrepancy.{m}": wave * i for i, m in enumerate(MODALITIES)}
                history |= {f"drop_prob.{m}": wave * i / 2 for i, m in enumerate(MODALITIES)}
                history |= {f"drop_rate.{m}": 0.7 * wave * i / 2 for i, m in enumerate(MODALITIES)}
                history |= {"warmup": (epoch == 1).astype(float)}
            history |= {"lr": 1e-3, "seconds": 0.5}
            run = folder / "train" / model / f"seed{seed}"
            run.mkdir(parents=True, exist_ok=True)
            pd.DataFrame(history).to_csv(run / "history.csv", index=False)
            (run / "metrics.json").write_text(json.dumps({"best_epoch": epochs - seed}))
            paths.append(run / "history.csv")
    return paths


@pytest.fixture
def evaluations(tmp_path):
    return tables.load_evaluations(write_evaluations(tmp_path, context_years=3))


def expected_cell(model: str, subset: str, split: str = "test") -> tuple[float, float]:
    values = [100 * value(model, subset, seed, split) for seed in SEEDS]
    return float(np.mean(values)), float(np.std(values, ddof=1))


def test_main_table_cells_are_mean_and_std_over_seeds_in_percent(evaluations):
    table = tables.main_table(evaluations, STRATEGIES, SUBSETS)
    assert table.rows == ["uniform", "miam", "oracle"]
    assert table.columns == [*SUBSETS, "avg"]
    for model in table.rows:
        for subset in SUBSETS:
            assert table.cell(model, subset) == pytest.approx(expected_cell(model, subset))
        # avg: per seed mean over the subsets, then mean and std over seeds
        averages = [100 * np.mean([value(model, s, seed) for s in SUBSETS]) for seed in SEEDS]
        assert table.cell(model, "avg") == pytest.approx(
            (np.mean(averages), np.std(averages, ddof=1))
        )
    assert set(table.cells["n_seeds"]) == {len(SEEDS)}


def test_bold_marks_the_best_non_oracle_model_of_each_column(evaluations):
    table = tables.main_table(evaluations, STRATEGIES, SUBSETS)
    # the oracle is best everywhere, but is a reference: miam is bold in every column
    assert table.best() == {("miam", column) for column in table.columns}
    markdown = tables.to_markdown(table)
    miam_line = next(line for line in markdown.splitlines() if line.startswith("| miam"))
    oracle_line = next(line for line in markdown.splitlines() if line.startswith("| oracle"))
    assert miam_line.count("**") == 2 * len(table.columns)
    assert "**" not in oracle_line
    latex = tables.to_latex(table)
    assert latex.count("\\textbf{") == len(table.columns)
    assert "oracle &" in latex and "\\textbf{" not in next(
        line for line in latex.splitlines() if line.startswith("oracle")
    )


def test_ties_as_displayed_are_all_bold():
    uniform = eval_rows("uniform", 0)
    almost_equal = uniform.assign(model="miam", value=uniform["value"] + 1e-4)
    table = tables.main_table(pd.concat([uniform, almost_equal]), STRATEGIES, SUBSETS)
    assert table.best() == {(m, c) for m in ("uniform", "miam") for c in table.columns}


def test_models_are_ordered_strategies_then_others_then_oracle(tmp_path):
    paths = write_evaluations(tmp_path, models=("miam", "late_fusion", "uniform"))
    table = tables.main_table(tables.load_evaluations(paths), STRATEGIES, SUBSETS)
    assert table.rows == ["uniform", "miam", "late_fusion", "oracle"]


def test_written_files_contain_every_model_and_subset(tmp_path, evaluations):
    table = tables.main_table(evaluations, STRATEGIES, SUBSETS)
    paths = tables.write_table(table, tmp_path / "tables")
    assert [p.name for p in paths] == [f"main{s}" for s in tables.FILE_SUFFIXES]
    for path in paths:
        text = path.read_text().replace("<wbr>", "")  # HTML headers may wrap after a '+'
        for name in [*table.rows, *SUBSETS]:
            assert tables.latex_escape(name) in text or name in text, (path.name, name)
    wide = pd.read_csv(tmp_path / "tables" / "main.csv")
    assert list(wide["model"]) == table.rows
    assert wide.loc[wide.model == "miam", "tab_mean"].item() == pytest.approx(
        expected_cell("miam", "tab")[0]
    )
    long = pd.read_csv(tmp_path / "tables" / "main_long.csv")
    assert list(long.columns) == ["model", "subset", "mean", "std", "n_seeds"]
    assert len(long) == len(table.rows) * len(table.columns)
    assert list(long["subset"][: len(table.columns)]) == table.columns
    assert "late\\_fusion" in tables.latex_escape("late_fusion")


def test_wide_tables_are_split_into_blocks_of_columns_on_their_page():
    """TaxaBench's 33 columns would be cut off: the HTML page repeats the model names for each
    block of columns that fits HTML_WIDTH characters, and names the dataset in its title."""
    columns = [f"s{i}" for i in range(30)] + ["image+satellite+audio"] * 3
    cells = pd.DataFrame(
        [
            {"model": m, "subset": c, "mean": 50.0 + i, "std": 1.0, "n_seeds": 3}
            for m in ("uniform", "miam")
            for i, c in enumerate(columns)
        ]
    )
    table = tables.Table("main", "AUC % on the test split", cells, ["uniform", "miam"], columns)
    table.note = "`deployment` is **measured**."
    page = tables.to_html_page(table, "toy")
    assert "<title>main (toy)</title>" in page
    per_block = tables.HTML_WIDTH // (tables.CELL_WIDTH + 2)  # 7 short columns a block
    # Headers wrap after '+', so the three long names are as narrow as a short one: 5 blocks.
    blocks = -(-len(columns) // per_block)
    assert page.count("<table") == blocks and page.count("<th>miam</th>") == blocks
    assert page.count('white-space:normal">s') == 30 and "image+<wbr>satellite+<wbr>" in page
    assert "<span style='font-family:monospace'>deployment</span> is <b>measured</b>." in page


def test_coinciding_lines_are_named():
    flat, low = pd.Series([0.5, 0.5]), pd.Series([0.3, 0.3])
    assert figures.coinciding(["a", "b"], [flat, flat]) == "all modalities coincide"
    assert figures.coinciding(["a", "b", "c"], [low, flat, low]) == "a = c"
    assert figures.coinciding(["a", "b"], [low, flat]) == ""
    assert figures.coinciding(["a", "b"], [low, low + 0.01]) == "all modalities coincide"


def test_line_end_labels_are_spread_apart_around_their_lines():
    ends = [70.0, 70.05, 70.1, 75.0, 71.0]
    placed = figures.spread_labels(ends, gap=0.5)
    assert np.all(np.diff(np.sort(placed)) >= 0.5 - 1e-9)  # no two labels overlap
    assert list(np.argsort(placed)) == list(np.argsort(ends))  # the order of the lines is kept
    assert placed[3] == 75.0  # a label with room stays at its line's end
    assert np.mean(placed[[0, 1, 2, 4]]) == pytest.approx(np.mean([70.0, 70.05, 70.1, 71.0]))


def test_extra_column_is_one_function_of_the_evaluation_rows(evaluations):
    def best_subset(rows):
        named = rows[rows["family"] == "named"]
        return named.groupby(["model", "seed"])["value"].max().reset_index()

    table = tables.main_table(
        evaluations, STRATEGIES, SUBSETS, {"avg": tables.named_average, "best": best_subset}
    )
    assert table.columns == [*SUBSETS, "avg", "best"]
    assert table.cell("miam", "best") == pytest.approx(expected_cell("miam", "tab"))


def test_average_is_missing_for_a_run_without_every_subset():
    frame = pd.concat(
        [eval_rows("uniform", 0), eval_rows("miam", 0, subsets=SUBSETS[:2])], ignore_index=True
    )
    table = tables.main_table(frame, STRATEGIES, SUBSETS)
    assert math.isnan(table.cell("miam", "avg")[0])
    assert math.isnan(table.cell("miam", "tab+sat")[0])
    assert tables.MISSING in tables.to_markdown(table)


def test_a_single_seed_shows_no_spread():
    table = tables.main_table(eval_rows("miam", 0), STRATEGIES, SUBSETS)
    assert tables.format_cell(*table.cell("miam", "tab")) == "85.0"
    assert table.note.startswith("One seed: no spread")


def test_the_note_counts_the_seeds_and_names_models_with_fewer(evaluations):
    table = tables.main_table(evaluations, STRATEGIES, SUBSETS)
    assert table.note == "Mean ± std over 2 seeds."
    assert "_Mean ± std over 2 seeds._" in tables.to_markdown(table)
    fewer = evaluations[~((evaluations["model"] == "uniform") & (evaluations["seed"] == 1))]
    table = tables.main_table(fewer, STRATEGIES, SUBSETS)
    assert table.note == "Mean ± std over 2 seeds. Seeds per model where it differs: uniform 1."


def test_duplicate_evaluation_rows_are_refused(tmp_path):
    path = tmp_path / "twice.csv"
    eval_rows("miam", 0).to_csv(path, index=False)
    with pytest.raises(ValueError, match="duplicate"):
        tables.load_evaluations([path, path])


def test_principle_ablation_follows_the_ladder_and_names_what_is_absent(tmp_path):
    models = ("miam", "beta_hypercube", "uniform")
    frame = tables.load_evaluations(write_evaluations(tmp_path, models=models))
    table = tables.principles_table(frame, SUBSETS)
    assert table.rows == ["uniform", "beta_hypercube", "miam"]
    assert "uniform_hypercube" in table.note
    assert "uniform\\_hypercube" in tables.to_latex(table)


def test_corner_ablation_averages_validation_and_test(tmp_path):
    frame = tables.load_evaluations(
        write_evaluations(tmp_path, models=("miam", "miam_uniform_corners"))
    )
    table = tables.corners_table(frame)
    assert table.rows == ["miam_uniform_corners", "miam"]
    assert table.columns == ["val", "test"]
    for split in ("val", "test"):
        averages = [
            100 * np.mean([value("miam", s, seed, split) for s in SUBSETS]) for seed in SEEDS
        ]
        assert table.cell("miam", split)[0] == pytest.approx(np.mean(averages))
    assert table.note == "Mean ± std over 2 seeds."


def test_corner_ablation_without_its_strategy_writes_a_note(tmp_path, evaluations):
    table = tables.corners_table(evaluations)
    assert table.rows == ["miam"]
    assert "miam_uniform_corners" in table.note
    paths = tables.write_table(table, tmp_path)
    assert "nothing to compare" in paths[2].read_text()


def test_climate_context_table_per_number_of_years(evaluations):
    table = tables.climate_context_table(evaluations, STRATEGIES)
    assert table.rows == ["uniform", "miam"]  # oracles are not evaluated on context subsets
    assert table.columns == [1, 2, 3]
    for k in table.columns:
        values = [100 * (BASE["miam"] + 0.01 * k + SEED_STEP * seed) for seed in SEEDS]
        assert table.cell("miam", k) == pytest.approx((np.mean(values), np.std(values, ddof=1)))
    assert list(tables.long_frame(table).columns) == ["model", "k", "mean", "std", "n_seeds"]


def test_climate_context_columns_sort_by_number_of_years():
    frame = eval_rows("miam", 0, context_years=10)
    assert tables.climate_context_table(frame, STRATEGIES).columns == list(range(1, 11))


def test_dataset_without_climate_context_gets_an_empty_table_with_a_note(tmp_path):
    frame = tables.load_evaluations(write_evaluations(tmp_path))
    built = tables.build_tables(frame, STRATEGIES, SUBSETS)
    assert list(built) == list(tables.TABLE_NAMES)
    table = built["climate_context"]
    assert table.rows == [] and "climate" in table.note
    paths = tables.write_table(table, tmp_path / "tables")
    assert all(p.exists() for p in paths)
    assert "no climate-context" in paths[2].read_text()


def test_paired_gaps_are_model_minus_oracle_per_seed(evaluations):
    scores = claims.column_scores(evaluations, SUBSETS, ["sat"])
    gaps = figures.paired_gaps(scores, ["uniform", "miam", "oracle"], ["sat", "avg"])
    assert set(gaps["model"]) == {"uniform", "miam"}
    sat = gaps[(gaps["model"] == "miam") & (gaps["subset"] == "sat")].iloc[0]
    # value = BASE + OFFSET + SEED_STEP * seed for both: the gap is BASE[miam] - BASE[oracle]
    assert sat["mean"] == pytest.approx(100 * (BASE["miam"] - BASE["oracle"]))
    assert sat["std"] == pytest.approx(0.0, abs=1e-9) and sat["n_seeds"] == len(SEEDS)
    no_oracle = scores[scores["model"] != "oracle"]
    assert figures.paired_gaps(no_oracle, ["uniform", "miam"], ["sat"]).empty


def test_dot_panels_draw_each_mean_with_its_std_and_highlight_miam(evaluations):
    table = tables.main_table(evaluations, STRATEGIES, SUBSETS)
    fig = figures.dot_panels(table.cells, table.rows, table.columns, "AUC %")
    assert len(fig.axes) == len(table.columns)
    ax = fig.axes[SUBSETS.index("sat")]
    drawn = {}  # colour -> x of the markers
    for line in ax.lines:
        if line.get_marker() in ("o", "D", "s"):
            drawn[line.get_color()] = list(line.get_xdata())
    assert drawn[figures.HIGHLIGHT] == pytest.approx([expected_cell("miam", "sat")[0]])
    assert drawn[figures.REFERENCE] == pytest.approx([expected_cell("oracle", "sat")[0]])
    assert drawn[figures.OTHER] == pytest.approx([expected_cell("uniform", "sat")[0]])
    first = fig.axes[0]  # the panels share their y axis; the first column names the models
    labels = [label.get_text() for label in first.get_yticklabels()]
    assert labels == table.rows
    assert first.get_yticklabels()[labels.index("miam")].get_color() == figures.HIGHLIGHT


def test_claims_figure_has_one_row_per_claim_coloured_by_verdict(evaluations):
    table = claims.claims_table(evaluations, STRATEGIES, SUBSETS, ["sat"])
    fig = figures.claims_figure(table.rows)
    groups = list(dict.fromkeys(table.rows["group"]))
    panels = [ax for ax in fig.axes if ax.get_yticklabels()]
    assert len(panels) == len(groups)
    for ax, group in zip(panels, groups, strict=True):
        assert len(ax.get_yticks()) == (table.rows["group"] == group).sum()
    # identical seed offsets: zero-width intervals, every miam - uniform claim reproduced
    verdicts = set(table.rows.loc[table.rows["group"] == "baselines", "verdict"])
    assert verdicts == {claims.REPRODUCED}
    colours = {line.get_color() for ax in panels for line in ax.lines if line.get_marker() == "o"}
    assert figures.VERDICT_COLOURS[claims.REPRODUCED] in colours
    empty = figures.claims_figure(table.rows.iloc[:0])
    assert "No claim" in empty.axes[0].texts[0].get_text()


def test_histories_carry_model_seed_and_best_epoch(tmp_path):
    runs = figures.load_histories(write_histories(tmp_path))
    assert set(runs["model"]) == {"uniform", "opm", "miam"}
    assert runs.groupby("seed")["best_epoch"].first().to_dict() == {0: 4, 1: 3}
    assert figures.per_modality(runs, "expected_p") == MODALITIES
    assert figures.per_modality(runs, "d") == MODALITIES  # not confused with drop_* or d_floor
    assert figures.logged(runs, "miam", "d") and not figures.logged(runs, "opm", "d")
    assert figures.logged(runs, "opm", "drop_rate")


def test_over_seeds_gives_mean_and_std_per_epoch(tmp_path):
    runs = figures.load_histories(write_histories(tmp_path, models=("miam",)))
    summary = figures.over_seeds(runs[runs["model"] == "miam"], "expected_p.tab")
    waves = [0.5 + 0.4 * np.sin(np.arange(1, 5) + seed) for seed in SEEDS]
    assert summary["mean"].to_numpy() == pytest.approx(np.mean(waves, axis=0))
    assert summary["std"].to_numpy() == pytest.approx(np.std(waves, axis=0, ddof=1))


def test_miam_dynamics_marks_the_floor_and_the_clip(tmp_path):
    runs = figures.load_histories(write_histories(tmp_path, models=("miam",)))
    fig = figures.miam_dynamics(runs)
    p_ax, d_ax, r_ax = fig.axes[:3]
    clip_marks = [line for line in p_ax.lines if line.get_marker() == "x"]
    assert [list(line.get_xdata()) for line in clip_marks if len(line.get_xdata())] == [[2]]
    assert any(line.get_linestyle() == "--" for line in d_ax.lines)  # the floors
    bound = np.log(5.0)
    flat = [line.get_ydata()[0] for line in r_ax.lines if line.get_linestyle() == "--"]
    assert sorted(flat) == pytest.approx([-bound, bound])
    # the exponent comes back from the Beta parameters: log(kappa_one / kappa_zero) / 2 = log r
    exponent = figures.imbalance_exponent(runs, "sat")
    assert exponent.to_numpy() == pytest.approx(np.log(runs["r.sat"]).to_numpy())


def test_opm_dynamics_shows_the_realised_drop_rate(tmp_path):
    runs = figures.load_histories(write_histories(tmp_path, models=("opm",)))
    fig = figures.opm_dynamics(runs)
    rate_ax = fig.axes[0]
    solid = [line for line in rate_ax.lines if line.get_linestyle() == "-"]
    sat = [list(line.get_ydata()) for line in solid if max(line.get_ydata()) > 0]
    expected = figures.over_seeds(runs, "drop_rate.sat")["mean"].tolist()
    assert sat == [pytest.approx(expected)]
    assert len(rate_ax.patches) == 1  # the shaded warm-up epoch
    legend = [text.get_text() for legend in fig.legends for text in legend.get_texts()]
    assert "warm-up (no drop)" in legend  # the shade is named


def test_numbers_on_dark_cells_are_white():
    cmap = matplotlib.colormaps["RdBu_r"]
    assert figures.text_colour(cmap(1.0)) == "white"  # dark red
    assert figures.text_colour(cmap(0.0)) == "white"  # dark blue
    assert figures.text_colour(cmap(0.5)) == "black"  # the pale middle


def test_context_curve_labels_do_not_overlap():
    # Twelve lines rising to one plateau, as the climate context of a short run: the names at
    # their ends must still be apart once drawn (the axis' range grows to make room for them).
    rows = [f"model_{i}" for i in range(11)] + ["miam"]
    cells = pd.DataFrame(
        [
            {"model": row, "k": k, "mean": 70 - 8 / k + 0.02 * i, "std": 0.1}
            for i, row in enumerate(rows)
            for k in range(1, 20)
        ]
    )
    fig = figures.context_curve(cells, rows, "AUC %")
    fig.canvas.draw()
    # the text's own box (an annotation's box includes its leader line)
    boxes = sorted(
        (matplotlib.text.Text.get_window_extent(text) for text in fig.axes[0].texts),
        key=lambda box: box.y0,
    )
    assert len(boxes) == len(rows)
    assert all(lower.y1 + 1 <= upper.y0 for lower, upper in itertools.pairwise(boxes))
    matplotlib.pyplot.close(fig)


def run_notebook_script(tmp_path: Path, notebook: str, tables_dir: Path, evaluations, histories):
    reports = tmp_path / "reports"
    reports.mkdir(exist_ok=True)
    fake = SimpleNamespace(
        input=SimpleNamespace(
            notebook=str(REPO / "workflow" / "notebooks" / f"{notebook}.ipynb"),
            tables=[str(p) for p in sorted(tables_dir.iterdir())],
            evaluations=[str(p) for p in evaluations],
            histories=[str(p) for p in histories],
        ),
        output=SimpleNamespace(
            notebook=str(reports / f"{notebook}.ipynb"),
            html=str(reports / f"{notebook}.html"),
            figures=str(reports / "figures" / notebook),
        ),
        params=SimpleNamespace(strategies=STRATEGIES, weak_subsets=["sat", "tab+sat"]),
        wildcards=SimpleNamespace(dataset="toy"),
        log=[str(tmp_path / f"{notebook}.log")],
    )
    runpy.run_path(str(REPO / "workflow" / "scripts" / "notebook.py"), {"snakemake": fake})
    return reports


def tail_column(rows: pd.DataFrame) -> pd.DataFrame:
    """A stand-in deployment column: the per-seed score on tab+sat."""
    named = rows[(rows["family"] == "named") & (rows["subset"] == "tab+sat")]
    return named[["model", "seed", "value"]]


@pytest.mark.parametrize(
    ("notebook", "figure_names"),
    [
        ("comparison", {"claims", "subsets", "oracle_gap", "deployment_vs_average"}),
        ("ablation", {"principles", "corners", "climate_context"}),
        ("dynamics", {"validation", "expected_p", "opm_state", "miam_state"}),
    ],
)
def test_notebook_runs_and_its_html_embeds_the_figures(tmp_path, capfd, notebook, figure_names):
    models = ("uniform", "beta_hypercube", "miam", "miam_uniform_corners")
    evaluations = write_evaluations(tmp_path, models=models, context_years=3)
    histories = write_histories(tmp_path)
    frame = tables.load_evaluations(evaluations)
    extra = {"avg": tables.named_average, "deployment": tail_column}
    for table in tables.build_tables(frame, STRATEGIES, SUBSETS, extra).values():
        tables.write_table(table, tmp_path / "tables")
    claims.write_claims(
        claims.claims_table(frame, STRATEGIES, SUBSETS, ["sat"]), tmp_path / "tables"
    )
    profile = {"source": "config", "target": {"tab": 1.0, "sat": 0.5}, "data": {}}
    (tmp_path / "deployment_profile.json").write_text(json.dumps(profile))
    reports = run_notebook_script(tmp_path, notebook, tmp_path / "tables", evaluations, histories)
    html = (reports / f"{notebook}.html").read_text()
    assert f"<title>{notebook}: toy</title>" in html  # the page names its dataset
    embedded = re.findall(r'<img [^>]*src="data:image/png;base64,', html)
    assert len(embedded) == len(figure_names)
    assert len(re.findall(r'<img [^>]*alt="[^"]+"', html)) == len(figure_names)
    assert {p.stem for p in (reports / "figures" / notebook).glob("*.png")} == figure_names
    assert "figures.show(" not in html and "import " not in html  # code is hidden
    # What the kernel and the exporter print reaches the job's stderr (the kernel's directly).
    printed = Path(tmp_path / f"{notebook}.log").read_text() + capfd.readouterr().err
    for noise in ("without encryption", "KeyboardInterrupt", "Alternative text is missing"):
        assert noise not in printed


@pytest.mark.parametrize("path", sorted((REPO / "workflow" / "notebooks").glob("*.ipynb")))
def test_every_notebook_parameter_must_be_injected(path):
    """No default that could pass for a real value (a dataset name, a results path)."""
    import papermill

    declared = papermill.inspect_notebook(str(path))
    assert declared and {p["default"] for p in declared.values()} == {"None"}


@pytest.mark.parametrize("path", sorted((REPO / "workflow" / "report").glob("*.rst")))
def test_report_captions_render_without_restructuredtext_warnings(path, tmp_path):
    """As `snakemake --report` renders them: Jinja with the job's wildcards, then docutils. The
    contributions notebook's rule has no `notebook` wildcard; an empty ``{{ }}`` literal there
    was a warning per figure. The landing page (workflow.rst) includes each dataset's
    summary.html, found among the report's results (`categories`)."""
    import io

    import jinja2
    from docutils.core import publish_parts
    from snakemake.iocontainers import Wildcards

    for wildcards in (
        {"dataset": "toy", "name": "claims", "notebook": "comparison"},
        {"dataset": "toy", "name": "modalities"},  # contributions: no notebook wildcard
    ):
        summary = tmp_path / "summary.html"
        summary.write_text("<p>toy: 3 claims tested</p>")
        categories = {"Summary": {"": [SimpleNamespace(path=summary)]}}
        snakemake = SimpleNamespace(wildcards=Wildcards(fromdict=wildcards), config={})
        template = jinja2.Template(path.read_text())
        text = template.render(snakemake=snakemake, categories=categories)
        warnings = io.StringIO()
        body = publish_parts(text, writer="html", settings_overrides={"warning_stream": warnings})
        assert warnings.getvalue() == "", (path.name, wildcards, warnings.getvalue())
        if path.name == "workflow.rst":
            assert "<p>toy: 3 claims tested</p>" in body["html_body"]


def test_latex_notes_typeset_code_and_bold_instead_of_showing_markdown():
    assert tables.latex_note("`deployment` is **measured**: 50% of a_b") == (
        r"\texttt{deployment} is \textbf{measured}: 50\% of a\_b"
    )


def test_a_cell_rounding_to_zero_is_not_negative_zero():
    assert tables.format_cell(-0.04, 0.02) == "0.0 ± 0.0"
    assert tables.latex_cell(-0.04, float("nan")) == "0.0"
