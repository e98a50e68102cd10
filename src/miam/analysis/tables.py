"""The paper's tables from tidy evaluation rows: mean ± std over seeds, as CSV, Markdown, LaTeX.

Every table is built the same way: per-seed scores (model, seed, column, value) -> mean, std and
seed count per (model, column), in percent -> a `Table`, written by `write_table`. A column that
is computed from the evaluation rows (the average over subsets, a deployment score) is one
`ColumnScores` function passed in `extra_columns`.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from miam.core.metrics import PRIMARY_METRIC

ORACLE = "oracle"
KEYS = ["dataset", "model", "seed", "split", "family", "subset", "metric"]
# The files of one table, named `<table name><suffix>`; the workflow declares exactly these.
FILE_SUFFIXES = (".csv", "_long.csv", ".md", ".tex", ".html")
TABLE_NAMES = ("main", "ablation_principles", "ablation_corners", "climate_context")
# The paper's ablation ladder, and its corner-weight ablation (uniform w_c, then the 1/4-1/4 one).
PRINCIPLE_LADDER = ("uniform", "uniform_hypercube", "beta_hypercube", "miam")
CORNER_ABLATION = ("miam_uniform_corners", "miam")
METRIC_LABELS = {"auroc": "AUC %", "top1": "top-1 %", "top5": "top-5 %"}
MISSING = "–"

ColumnScores = Callable[[pd.DataFrame], pd.DataFrame]
"""Evaluation rows of one split and metric (every family) -> per-seed (model, seed, value)."""


def load_evaluations(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Concatenate evaluation CSVs; every (model, seed, split, subset, metric) must be unique."""
    frames = [pd.read_csv(path) for path in paths]
    if not frames:
        raise ValueError("no evaluation files given")
    frame = pd.concat(frames, ignore_index=True)
    missing = [c for c in [*KEYS, "value"] if c not in frame.columns]
    if missing:
        raise ValueError(f"evaluation rows lack columns {missing}")
    duplicated = frame.duplicated(KEYS)
    if duplicated.any():
        example = frame.loc[duplicated, KEYS].iloc[0].to_dict()
        raise ValueError(f"duplicate evaluation rows, e.g. {example}")
    return frame


def primary_metric(evaluations: pd.DataFrame) -> str:
    """The task's primary metric (auroc for presence-absence, top1 for classification)."""
    present = set(evaluations["metric"])
    for metric in PRIMARY_METRIC.values():
        if metric in present:
            return metric
    raise ValueError(f"no primary metric among {sorted(present)}")


def model_order(models: Iterable[str], strategies: Sequence[str]) -> list[str]:
    """Strategies in config order, then any other model by name, then the oracle."""
    present = set(models)
    others = sorted(present - set(strategies) - {ORACLE})
    oracle = [ORACLE] if ORACLE in present else []
    return [s for s in strategies if s in present] + others + oracle


def select(evaluations: pd.DataFrame, split: str, metric: str) -> pd.DataFrame:
    return evaluations[(evaluations["split"] == split) & (evaluations["metric"] == metric)]


def subset_scores(rows: pd.DataFrame, family: str) -> pd.DataFrame:
    """Per-seed (model, seed, column, value), one column per subset of `family`."""
    chosen = rows[rows["family"] == family]
    return chosen[["model", "seed", "subset", "value"]].rename(columns={"subset": "column"})


def named_average(rows: pd.DataFrame) -> pd.DataFrame:
    """Per-seed mean over the named subsets; NaN for a run that lacks some of them."""
    named = rows[rows["family"] == "named"]
    n_subsets = named["subset"].nunique()
    grouped = named.groupby(["model", "seed"])["value"]
    average = grouped.mean().where(grouped.count() == n_subsets)
    return average.rename("value").reset_index()


def summarize(scores: pd.DataFrame, column_key: str) -> pd.DataFrame:
    """(model, <column_key>, mean, std, n_seeds) in percent; std over seeds with ddof 1."""
    percent = scores.assign(value=100 * scores["value"])
    grouped = percent.groupby(["model", "column"], sort=False)["value"]
    cells = grouped.agg(mean="mean", std="std", n_seeds="count").reset_index()
    return cells.rename(columns={"column": column_key})


@dataclass
class Table:
    """Cells (model, <column_key>, mean, std, n_seeds) laid out as `rows` x `columns`."""

    name: str
    title: str
    cells: pd.DataFrame
    rows: list[str]
    columns: list
    column_key: str = "subset"
    note: str = ""
    _lookup: dict | None = field(default=None, init=False, repr=False)  # (row, column) -> cell

    def cell(self, row: str, column) -> tuple[float, float]:
        """(mean, std) of one cell; NaN where the table has none."""
        if self._lookup is None:
            keys = zip(self.cells["model"], self.cells[self.column_key], strict=True)
            values = zip(self.cells["mean"], self.cells["std"], strict=True)
            self._lookup = {k: (float(m), float(s)) for k, (m, s) in zip(keys, values, strict=True)}
        return self._lookup.get((row, column), (math.nan, math.nan))

    def best(self) -> set[tuple[str, object]]:
        """(row, column) of the best non-oracle mean of each column, as displayed (ties all)."""
        best = set()
        for column in self.columns:
            shown = {r: round(self.cell(r, column)[0], 1) for r in self.rows if r != ORACLE}
            finite = [v for v in shown.values() if math.isfinite(v)]
            if finite:
                best |= {(r, column) for r, v in shown.items() if v == max(finite)}
        return best


def one_decimal(value: float, sign: str = "") -> str:
    """`value` to one decimal, never as "-0.0" (a value that rounds to zero is 0.0)."""
    return f"{round(value, 1) + 0.0:{sign}.1f}"


def format_cell(mean: float, std: float) -> str:
    if not math.isfinite(mean):
        return MISSING
    if not math.isfinite(std):  # a single seed
        return one_decimal(mean)
    return f"{one_decimal(mean)} ± {one_decimal(std)}"


def seeds_note(cells: pd.DataFrame) -> str:
    """How many seeds the cells average: one count, or the count of each model that differs."""
    counts = cells[cells["n_seeds"] > 0].groupby("model", sort=False)["n_seeds"].max()
    if counts.empty:
        return ""
    usual = int(counts.mode().max())
    if usual == 1:
        text = "One seed: no spread (add seeds to the config for mean ± std)."
    else:
        text = f"Mean ± std over {usual} seeds."
    others = counts[counts != usual]
    if not others.empty:
        listed = ", ".join(f"{model} {int(n)}" for model, n in others.items())
        text += f" Seeds per model where it differs: {listed}."
    return text


def scored_table(
    name: str,
    title: str,
    scores: pd.DataFrame,
    rows: list[str],
    columns: list,
    column_key: str = "subset",
    note: str = "",
) -> Table:
    """Cells of `scores` for `rows`; the note ends with the number of seeds behind them."""
    cells = summarize(scores[scores["model"].isin(rows)], column_key)
    note = " ".join(text for text in (note, seeds_note(cells)) if text)
    return Table(name, title, cells, rows, columns, column_key, note)


def model_table(
    name: str,
    evaluations: pd.DataFrame,
    rows: list[str],
    subsets: Sequence[str],
    split: str = "test",
    extra_columns: Mapping[str, ColumnScores] | None = None,
    note: str = "",
) -> Table:
    """Rows = models, columns = the named subsets then one per extra column."""
    extra_columns = {"avg": named_average} if extra_columns is None else extra_columns
    metric = primary_metric(evaluations)
    rows_of_split = select(evaluations, split, metric)
    scores = pd.concat(
        [subset_scores(rows_of_split, "named")]
        + [provide(rows_of_split).assign(column=c) for c, provide in extra_columns.items()],
        ignore_index=True,
    )
    title = f"{METRIC_LABELS[metric]} on the {split} split, mean ± std over seeds"
    return scored_table(name, title, scores, rows, [*subsets, *extra_columns], note=note)


def main_table(
    evaluations: pd.DataFrame,
    strategies: Sequence[str],
    subsets: Sequence[str],
    extra_columns: Mapping[str, ColumnScores] | None = None,
) -> Table:
    """Every model (strategies, other models, oracle) on every named subset, plus `avg`."""
    rows = model_order(evaluations["model"].unique(), strategies)
    return model_table("main", evaluations, rows, subsets, extra_columns=extra_columns)


def principles_table(
    evaluations: pd.DataFrame,
    subsets: Sequence[str],
    extra_columns: Mapping[str, ColumnScores] | None = None,
) -> Table:
    """The ablation ladder uniform -> uniform hypercube -> beta hypercube -> MIAM (those run)."""
    models = set(evaluations["model"])
    rows = [m for m in PRINCIPLE_LADDER if m in models]
    absent = [m for m in PRINCIPLE_LADDER if m not in models]
    note = f"Not in this run: {', '.join(absent)}." if absent else ""
    return model_table(
        "ablation_principles", evaluations, rows, subsets, extra_columns=extra_columns, note=note
    )


def corners_table(evaluations: pd.DataFrame) -> Table:
    """Uniform corner weights vs the 1/4-1/4 weights: average over named subsets, val and test."""
    metric = primary_metric(evaluations)
    models = set(evaluations["model"])
    rows = [m for m in CORNER_ABLATION if m in models]
    absent = [m for m in CORNER_ABLATION if m not in models]
    note = f"Not in this run: {', '.join(absent)}; nothing to compare." if absent else ""
    splits = ["val", "test"]
    scores = pd.concat(
        [named_average(select(evaluations, s, metric)).assign(column=s) for s in splits],
        ignore_index=True,
    )
    title = (
        f"{METRIC_LABELS[metric]} averaged over the named subsets, per split, "
        "mean ± std over seeds (the paper reports validation)"
    )
    return scored_table("ablation_corners", title, scores, rows, splits, "split", note)


def context_years(subset: str) -> int:
    """'context_k' -> k, the number of most recent climate years visible."""
    return int(subset.removeprefix("context_"))


def climate_context_table(evaluations: pd.DataFrame, strategies: Sequence[str]) -> Table:
    """Metric vs number k of most recent climate years visible, per model (test split)."""
    metric = primary_metric(evaluations)
    scores = subset_scores(select(evaluations, "test", metric), "context")
    scores = scores.assign(column=scores["column"].map(context_years))
    rows = model_order(scores["model"].unique(), strategies)
    columns = sorted(scores["column"].unique().tolist())
    note = "" if rows else "This dataset has no climate-context subsets (`climate_context`)."
    title = f"{METRIC_LABELS[metric]} on the test split vs years of climate visible (k)"
    return scored_table("climate_context", title, scores, rows, columns, "k", note)


def build_tables(
    evaluations: pd.DataFrame,
    strategies: Sequence[str],
    subsets: Sequence[str],
    extra_columns: Mapping[str, ColumnScores] | None = None,
) -> dict[str, Table]:
    """Every table of `TABLE_NAMES`, by name."""
    tables = [
        main_table(evaluations, strategies, subsets, extra_columns),
        principles_table(evaluations, subsets, extra_columns),
        corners_table(evaluations),
        climate_context_table(evaluations, strategies),
    ]
    return {table.name: table for table in tables}


# Writers. ----------------------------------------------------------------------------------------


def wide_frame(table: Table) -> pd.DataFrame:
    """One row per model: `<column>_mean`, `<column>_std` for every column."""
    records = []
    for row in table.rows:
        record = {"model": row}
        for column in table.columns:
            record[f"{column}_mean"], record[f"{column}_std"] = table.cell(row, column)
        records.append(record)
    header = ["model"] + [f"{c}_{s}" for c in table.columns for s in ("mean", "std")]
    return pd.DataFrame(records, columns=header)


def long_frame(table: Table) -> pd.DataFrame:
    """One row per (model, column) in table order: model, <column_key>, mean, std, n_seeds."""
    key = table.column_key
    rank = {"model": table.rows, key: table.columns}
    cells = table.cells[["model", key, "mean", "std", "n_seeds"]]
    ordered = cells.sort_values(
        ["model", key],
        key=lambda values: values.map({v: i for i, v in enumerate(rank[values.name])}),
    )
    return ordered.reset_index(drop=True)


def to_markdown(table: Table) -> str:
    lines = [f"**{table.title}**", ""]
    if table.rows:
        best = table.best()
        lines.append("| model | " + " | ".join(str(c) for c in table.columns) + " |")
        lines.append("|---|" + "---:|" * len(table.columns))
        for row in table.rows:
            cells = []
            for column in table.columns:
                text = format_cell(*table.cell(row, column))
                cells.append(f"**{text}**" if (row, column) in best else text)
            lines.append(f"| {row} | " + " | ".join(cells) + " |")
    if table.note:
        lines += ["", f"_{table.note}_"]
    return "\n".join(lines) + "\n"


def read_long(path: str | Path, name: str = "", title: str = "", note: str = "") -> Table:
    """A `Table` back from its `<name>_long.csv` (rows and columns in the file's order)."""
    cells = pd.read_csv(path)
    key = cells.columns[1]
    rows = list(dict.fromkeys(cells["model"]))
    columns = list(dict.fromkeys(cells[key]))
    return Table(
        name or Path(path).stem.removesuffix("_long"), title, cells, rows, columns, key, note
    )


def to_html(table: Table, columns: Sequence | None = None, highlight: str = "miam") -> str:
    """A compact HTML table that scrolls sideways rather than being cut off (for notebooks).

    columns: the columns shown, in this order (default: all). Bold: the best non-oracle model of
    each column; the `highlight` row is tinted.
    """
    columns = list(table.columns if columns is None else columns)
    best = table.best()
    # Long subset names ('image+satellite+audio') wrap after each '+' instead of widening.
    head = "".join(
        f'<th style="white-space:normal">{html.escape(str(c)).replace("+", "+<wbr>")}</th>'
        for c in columns
    )
    body = []
    for row in table.rows:
        style = ' style="background:#fbeaea"' if row == highlight else ""
        cells = []
        for column in columns:
            text = format_cell(*table.cell(row, column))
            cells.append(f"<td><b>{text}</b></td>" if (row, column) in best else f"<td>{text}</td>")
        body.append(f"<tr{style}><th>{row}</th>{''.join(cells)}</tr>")
    return (
        '<div style="overflow-x:auto; max-width:100%">'
        '<table style="font-size:11px; white-space:nowrap">'
        f"<thead><tr><th>model</th>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
        "</table></div>"
    )


# Width of an HTML table's value columns, in characters: wider tables (TaxaBench's 31 subsets)
# are split into blocks of columns, each repeating the model names, so that a page (or the
# report's frame) never needs to scroll sideways. A column is as wide as its cells ("57.7 ± 2.5")
# or the longest part of its name between '+' (where the name wraps).
HTML_WIDTH = 96
CELL_WIDTH = 11
PAGE_STYLE = (  # scoped to the page's own div: the report's landing page includes it
    ".miam{font-family:sans-serif;font-size:13px;margin:12px;max-width:1100px}"
    ".miam table{border-collapse:collapse;margin:6px 0 14px}"
    ".miam th,.miam td{padding:2px 7px;border-bottom:1px solid #ddd;text-align:right;"
    "white-space:nowrap}"
    ".miam tbody th,.miam thead th:first-child{text-align:left}"
    # Tables of text (the claims): their statement and verdict columns wrap, so that the
    # verdict stays within a 970 px frame (the report's, beside its menu) instead of off-screen.
    ".miam table.text th,.miam table.text td:first-child,.miam table.text td:nth-child(2),"
    ".miam table.text td:last-child{white-space:normal;text-align:left}"
    ".miam table.text td:first-child{min-width:14em}"
    ".miam table.text td:last-child{min-width:11em}"
)


def column_width(column) -> int:
    return max(CELL_WIDTH, *(len(part) + 1 for part in str(column).split("+"))) + 2


def html_blocks(table: Table, columns: Sequence | None = None, width: int = HTML_WIDTH) -> str:
    """`to_html` of `columns` (default: all) in blocks of at most `width` characters."""
    blocks: list[list] = [[]]
    for column in table.columns if columns is None else columns:
        used = sum(column_width(c) for c in blocks[-1])
        if blocks[-1] and used + column_width(column) > width:
            blocks.append([])
        blocks[-1].append(column)
    return "".join(to_html(table, block) for block in blocks if block)


def inline_html(text: str) -> str:
    """Markdown-style `code`, **bold** and _italics_ of a note or title, as HTML."""
    text = html.escape(text, quote=False)
    # monospace, not <code>: the report's style sheet wraps <code> in visible backticks
    text = re.sub(r"`([^`]+)`", r"<span style='font-family:monospace'>\1</span>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)
    return re.sub(r"(?<!\w)_([^_]+)_(?!\w)", r"<i>\1</i>", text)


def markdown_html(text: str) -> str:
    """The Markdown this package writes (paragraphs, pipe tables, `- ` lists, inline marks) as
    HTML, so that a `.md` table or claims page can be shown inline by the report."""
    parts: list[str] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.splitlines()
        if all(line.startswith("|") for line in lines) and len(lines) >= 2:
            cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
            head = "".join(f"<th>{inline_html(c)}</th>" for c in cells[0])
            body = "".join(
                "<tr>" + "".join(f"<td>{inline_html(c)}</td>" for c in row) + "</tr>"
                for row in cells[2:]
            )
            parts.append(
                f"<table class='text'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            )
        elif all(line.startswith("- ") for line in lines):
            items = "".join(f"<li>{inline_html(line[2:])}</li>" for line in lines)
            parts.append(f"<ul>{items}</ul>")
        else:
            parts.append(f"<p>{inline_html(' '.join(lines))}</p>")
    return "".join(parts)


def html_page(title: str, body: str) -> str:
    """A standalone HTML page (the report shows HTML inline; Markdown would be a download)."""
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{PAGE_STYLE}</style></head><body><div class='miam'>{body}</div></body></html>\n"
    )


def to_html_page(table: Table, dataset: str = "") -> str:
    """The table as a page: its title, the cells in blocks of columns, its note."""
    where = f" ({dataset})" if dataset else ""
    body = f"<h3>{html.escape(table.name)}{html.escape(where)}: {inline_html(table.title)}</h3>"
    body += html_blocks(table) if table.rows else "<p>No rows.</p>"
    if table.note:
        body += f"<p><i>{inline_html(table.note)}</i></p>"
    return html_page(f"{table.name}{where}", body)


LATEX_SPECIAL = {c: "\\" + c for c in "&%$#_{}"} | {
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "\\": r"\textbackslash{}",
    "±": r"$\pm$",
}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(c, c) for c in str(text))


def latex_note(text: str) -> str:
    """A note's Markdown-style `code` and **bold** as LaTeX, the rest escaped."""
    text = latex_escape(text)
    text = re.sub(r"`([^`]+)`", r"\\texttt{\1}", text)
    return re.sub(r"\*\*([^*]+)\*\*", r"\\textbf{\1}", text)


def latex_cell(mean: float, std: float) -> str:
    if not math.isfinite(mean):
        return "--"
    if not math.isfinite(std):
        return one_decimal(mean)
    return f"{one_decimal(mean)} $\\pm$ {one_decimal(std)}"


def to_latex(table: Table) -> str:
    """A booktabs `table` environment; the oracle sits below a rule, bold is never on it."""
    lines = [
        "\\begin{table}",
        "\\centering",
        f"\\caption{{{latex_escape(table.title)}}}",
        f"\\label{{tab:{table.name}}}",
    ]
    if table.rows:
        best = table.best()
        lines += [
            "\\begin{tabular}{l" + "c" * len(table.columns) + "}",
            "\\toprule",
            " & ".join(["Model"] + [latex_escape(c) for c in table.columns]) + " \\\\",
            "\\midrule",
        ]
        for row in table.rows:
            if row == ORACLE:
                lines.append("\\midrule")
            cells = []
            for column in table.columns:
                text = latex_cell(*table.cell(row, column))
                cells.append(f"\\textbf{{{text}}}" if (row, column) in best else text)
            lines.append(" & ".join([latex_escape(row), *cells]) + " \\\\")
        lines += ["\\bottomrule", "\\end{tabular}"]
    if table.note:
        lines.append(f"\\par\\smallskip {latex_note(table.note)}")
    lines.append("\\end{table}")
    return "\n".join(lines) + "\n"


def write_table(table: Table, folder: str | Path, dataset: str = "") -> list[Path]:
    """Write `<name>.csv` (wide), `<name>_long.csv`, `<name>.md`, `<name>.tex` and `<name>.html`
    (a page for the report, titled with `dataset`) into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{table.name}{suffix}" for suffix in FILE_SUFFIXES]
    wide, long, markdown, latex, page = paths
    wide_frame(table).to_csv(wide, index=False)
    long_frame(table).to_csv(long, index=False)
    markdown.write_text(to_markdown(table), encoding="utf-8")
    latex.write_text(to_latex(table), encoding="utf-8")
    page.write_text(to_html_page(table, dataset), encoding="utf-8")
    return paths
