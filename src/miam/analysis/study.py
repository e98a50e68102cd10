"""The decisive study of docs/study.md: does MIAM beat the Beta hypercube, and can the benchmark
tell?

A study's points are datasets of the config, each in a benchmark; the datasets of one benchmark
share their data and split, so their models are paired by seed (the arms train on many seeds in
one dataset, uniform masking and the oracles on a few in another). Every claim, margin and
decision rule is the config's `preregistration`, written before the run. From the points'
evaluation rows and training histories:

- `study_scores`: the tidy table, one row per (benchmark, dataset, model, seed, split, subset);
- `verdicts`: one row per (benchmark, comparison, column): the paired difference a - b in pp
  over the seeds both have, its 95 % t interval (miam.analysis.claims.paired_difference), the
  margin, the verdict by the pre-registered rule (`row_verdict`), the achieved and planned
  half-widths, whether the row is powered, and whether the finding cites it;
- `study_dynamics`, `dynamics_summary`: MIAM's r_m, E[p_m] and d_m against its floor over
  training;
- `finding`: the study's heading and one sentence per question, every word from verdicts.csv;
- `publish` (python -m miam.analysis.study results/study/<study>): the finding into the README
  and docs/study.md, the tables and figures into docs/figures/study/.

Pandas only (the workflow imports it on every parse); the figures: miam.analysis.study_figures.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from miam.analysis.claims import (
    AVERAGE,
    CONFIDENCE,
    WEAK_MEAN,
    column_scores,
    paired_difference,
    t_quantile,
)
from miam.analysis.job_costs import job_benchmarks, stage_table
from miam.analysis.rows import LATE_FUSION_MODELS
from miam.analysis.summary import float_setup, machine
from miam.analysis.tables import ORACLE, load_evaluations, primary_metric

POINT = ["benchmark", "dataset"]
# The column of every input, whatever the benchmark calls that subset (GeoPlant `all`).
ALL_INPUTS = "all inputs"
# The verdict words; `EQUIVALENT` reads "equivalent within ±margin" in the sentences.
BEATS, EQUIVALENT, INCONCLUSIVE, WORSE = "beats", "equivalent", "inconclusive", "worse"
UNTESTABLE = "cannot be tested here"
VERDICTS = (BEATS, EQUIVALENT, INCONCLUSIVE, WORSE, UNTESTABLE)
POSITIVE, NEGATIVE = "positive control", "negative control"
MIAM_QUESTION = "MIAM against the Beta hypercube"
LADDER, GAP = "the ladder", "gap to the oracle"
# The questions in report order: the controls first, MIAM read against them.
QUESTIONS = (POSITIVE, NEGATIVE, MIAM_QUESTION, LADDER, GAP)
VERDICT_COLUMNS = [
    "dataset",
    "question",
    "comparison",
    "a",
    "b",
    "subset",
    "budget",
    "n_seeds",
    "mean",
    "low",
    "high",
    "margin",
    "verdict",
    "half_width",
    "planned_half_width",
    "expected_half_width",
    "powered",
    "testable",
    "cited",
]
# How the sentences name the study's models (the config's strategy names otherwise).
LABELS = {
    "uniform": "uniform masking",
    "beta_hypercube": "the Beta hypercube",
    "miam_paper_lam1": "MIAM as the paper states it (lambda 1)",
    "miam_paper_lam3": "MIAM as the paper states it (lambda 3)",
    "miam": "MIAM as this project runs it",
    "favour_weak_x5": "the Beta hypercube pushed x5 toward the weak modalities",
    "favour_weak_x25": "the Beta hypercube pushed x25 toward the weak modalities",
    "favour_strong_x5": "the Beta hypercube pushed x5 away from the weak modalities",
    ORACLE: "the oracle",
}


def label(model: str) -> str:
    return LABELS.get(model, model)


# The tables. ----------------------------------------------------------------------------------


def study_scores(points: Mapping[str, str], evaluations: Iterable[str | Path]) -> pd.DataFrame:
    """The tidy table: the primary metric of every model on the named subsets, per benchmark,
    dataset, seed and split (val, test). Late fusion is left out: every point trains it, and
    the study does not compare it."""
    rows = load_evaluations(evaluations)
    rows = rows[(rows["family"] == "named") & ~rows["model"].isin(LATE_FUSION_MODELS)]
    absent = sorted(set(points) - set(rows["dataset"]))
    if absent:
        raise ValueError(f"no evaluation rows of the study's points {absent}")
    # Per dataset: GeoPlant's points score AUROC, TaxaBench's top-1.
    primary = {dataset: primary_metric(group) for dataset, group in rows.groupby("dataset")}
    rows = rows[rows["metric"] == rows["dataset"].map(primary)]
    rows = rows.assign(benchmark=rows["dataset"].map(dict(points)))
    columns = [*POINT, "model", "seed", "split", "subset", "metric", "value"]
    return rows[columns].reset_index(drop=True)


def per_seed_columns(scores: pd.DataFrame, benchmarks: Mapping[str, Mapping]) -> pd.DataFrame:
    """Per benchmark, model and seed: the test score in percent of each subset, `avg`, the weak
    mean (claims.column_scores over the benchmark's points together) and ALL_INPUTS, the subset
    of every input under one name for every benchmark."""
    frames = []
    for benchmark, rows in scores[scores["split"] == "test"].groupby("benchmark", sort=False):
        settings = benchmarks[benchmark]
        tidy = rows.assign(family="named")
        duplicated = tidy.duplicated(["model", "seed", "subset"])
        if duplicated.any():
            raise ValueError(
                f"benchmark {benchmark}: a model trained in two of its datasets, e.g. "
                f"{tidy.loc[duplicated, ['dataset', 'model', 'seed']].iloc[0].to_dict()}"
            )
        columns = column_scores(
            tidy, settings["subsets"], settings["weak_subsets"], "test", rows["metric"].iloc[0]
        )
        every = columns[columns["column"] == settings.get("all_inputs")]
        columns = pd.concat([columns, every.assign(column=ALL_INPUTS)], ignore_index=True)
        frames.append(columns.assign(benchmark=benchmark))
    return pd.concat(frames, ignore_index=True)


def row_verdict(low: float, high: float, margin: float, threshold: float = 0.0) -> str:
    """The pre-registered rule for one row a - b: `beats` when the interval lies above
    `threshold`, `worse` below -`threshold`, `equivalent` (within ±margin) inside [-margin,
    margin], else (and without an interval) `inconclusive`. The threshold is 0, except for the
    gap to the oracle, whose claim is about its margin: the oracle beats a model only by more
    than the margin, and a gap inside it is equivalence."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return INCONCLUSIVE
    if low > threshold:
        return BEATS
    if high < -threshold:
        return WORSE
    if -margin <= low and high <= margin:
        return EQUIVALENT
    return INCONCLUSIVE


def half_width(sd: float, n: int, confidence: float = CONFIDENCE) -> float:
    """The t interval's half-width for n paired seeds of standard deviation sd."""
    if n < 2:
        return math.nan
    return t_quantile(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)


def seeds_needed(sd: float, target: float, confidence: float = CONFIDENCE) -> int:
    """The fewest paired seeds whose planned half-width is at most `target`."""
    n = 2
    while half_width(sd, n, confidence) > target:
        n += 1
    return n


def pilot_sd(differences: pd.DataFrame, column: str = WEAK_MEAN) -> float:
    """The pooled paired SD (pp) of MIAM (lambda > 0) - Beta hypercube on `column` over the
    rows of a pilot study's differences.csv, each SD recovered from its interval and n."""
    rows = differences[
        (differences["b"] == "beta_hypercube")
        & differences["a"].str.startswith("miam[lam=")
        & (differences["a"] != "miam[lam=0]")
        & (differences["column"] == column)
    ]
    if rows.empty:
        raise ValueError(f"no MIAM - Beta hypercube rows on {column!r} in the pilot")
    variances = [
        ((row.high - row.low) / 2 / half_width(1.0, int(row.n_seeds))) ** 2
        for row in rows.itertuples()
    ]
    return math.sqrt(sum(variances) / len(variances))


# The columns the sentences cite per question (the forest plot shows the same rows); MIAM's
# are the pre-registered decision columns.
CITED = {POSITIVE: [WEAK_MEAN], NEGATIVE: [WEAK_MEAN], LADDER: [AVERAGE], GAP: [AVERAGE]}
PREFIXES = {POSITIVE: "Positive control: ", NEGATIVE: "Negative control: "}


def cited_columns(question: str, decision_columns: Sequence[str]) -> list[str]:
    return list(decision_columns) if question == MIAM_QUESTION else CITED[question]


def verdicts(columns: pd.DataFrame, preregistration: Mapping) -> pd.DataFrame:
    """verdicts.csv: per benchmark (in the order of `columns`), pre-registered comparison and
    column, the paired difference and its verdict. A comparison whose models a benchmark lacks
    is left out, and so is a column no seed has for both. MIAM's rows on a benchmark where no
    positive control showed headroom (its weak-mean interval above 0 with a mean of at least
    `headroom` pp) are `cannot be tested here`, whatever their interval."""
    records = []
    for benchmark, rows in columns.groupby("benchmark", sort=False):
        by_key = {key: g.set_index("seed")["value"] for key, g in rows.groupby(["model", "column"])}
        for comparison in preregistration["comparisons"]:
            a, b = comparison["a"], comparison["b"]
            margin = preregistration["gap_margin" if comparison["question"] == GAP else "margin"]
            for column in preregistration["columns"]:
                if (a, column) not in by_key or (b, column) not in by_key:
                    continue
                paired = paired_difference(by_key[(a, column)], by_key[(b, column)])
                if paired.n == 0:  # e.g. a mean column without every subset's oracle
                    continue
                records.append(
                    {
                        "dataset": benchmark,
                        "question": comparison["question"],
                        "comparison": f"{a} - {b}",
                        "a": a,
                        "b": b,
                        "subset": column,
                        "budget": preregistration["budget"],
                        "n_seeds": paired.n,
                        "mean": paired.mean,
                        "low": paired.low,
                        "high": paired.high,
                        "margin": margin,
                        "half_width": (paired.high - paired.low) / 2,
                        "planned_half_width": margin / 2,
                        # The planning SD is MIAM - Beta hypercube's: no plan for other rows.
                        "expected_half_width": (
                            half_width(preregistration["planning_sd"], paired.n)
                            if comparison["question"] == MIAM_QUESTION
                            else math.nan
                        ),
                    }
                )
    frame = pd.DataFrame.from_records(records)
    if frame.empty:
        raise ValueError("no pre-registered comparison has both of its models in the study")
    frame["powered"] = frame["half_width"] <= frame["planned_half_width"]
    headroom = {
        benchmark: has_headroom(rows, preregistration["headroom"])
        for benchmark, rows in frame.groupby("dataset", sort=False)
    }
    frame["testable"] = (frame["question"] != MIAM_QUESTION) | frame["dataset"].map(headroom)
    frame["verdict"] = [
        row_verdict(row.low, row.high, row.margin, threshold(row.question, row.margin))
        if row.testable
        else UNTESTABLE
        for row in frame.itertuples()
    ]
    decision = preregistration["decision_columns"]
    frame["cited"] = [
        subset in cited_columns(question, decision)
        for question, subset in zip(frame["question"], frame["subset"], strict=True)
    ]
    return frame[VERDICT_COLUMNS]


def threshold(question: str, margin: float) -> float:
    """Where `beats` starts for a question's rows (row_verdict): the gap's margin, else 0."""
    return margin if question == GAP else 0.0


def has_headroom(rows: pd.DataFrame, headroom: float) -> bool:
    """Whether a positive control beat the Beta hypercube on the weak mean by `headroom` pp:
    its interval above 0 and its mean at least `headroom`."""
    control = rows[(rows["question"] == POSITIVE) & (rows["subset"] == WEAK_MEAN)]
    return bool(((control["low"] > 0) & (control["mean"] >= headroom)).any())


def comparison_verdict(rows: pd.DataFrame, decision_columns: Sequence[str]) -> str:
    """One comparison's verdict from its rows: the verdict its decision columns share, else
    `inconclusive` (missing decision columns: inconclusive)."""
    decided = rows[rows["subset"].isin(list(decision_columns))]
    found = set(decided["verdict"])
    if len(decided) == len(decision_columns) and len(found) == 1:
        return found.pop()
    return INCONCLUSIVE


# MIAM's dynamics (what its imbalance term did). -----------------------------------------------


def study_dynamics(points: Mapping[str, str], histories: Iterable[str | Path]) -> pd.DataFrame:
    """MIAM's state over training, tidy: per benchmark, dataset, model, seed, epoch and
    modality, its r_m, E[p_m], d_m, the floor on d_m and whether d_m is above it (NaN before d
    exists). The runs that logged no r (every strategy but MIAM) are left out."""
    frames = []
    for path in map(Path, histories):
        history = pd.read_csv(path)
        if not any(c.startswith("r.") for c in history.columns):
            continue
        model, seed = path.parents[1].name, int(path.parent.name.removeprefix("seed"))
        dataset = path.parents[3].name
        for modality in [c.removeprefix("r.") for c in history.columns if c.startswith("r.")]:
            d, floor = history[f"d.{modality}"], history[f"d_floor.{modality}"]
            frames.append(
                pd.DataFrame(
                    {
                        "benchmark": points[dataset],
                        "dataset": dataset,
                        "model": model,
                        "seed": seed,
                        "epoch": history["epoch"],
                        "epochs": len(history),
                        "modality": modality,
                        "r": history[f"r.{modality}"],
                        "expected_p": history[f"expected_p.{modality}"],
                        "d": d,
                        "d_floor": floor,
                        "above_floor": (d > floor).where(d.notna()),
                        "clipped": history[f"clipped.{modality}"],
                    }
                )
            )
    if not frames:
        raise ValueError("no MIAM history among the given files")
    return pd.concat(frames, ignore_index=True)


def dynamics_summary(dynamics: pd.DataFrame) -> pd.DataFrame:
    """Per benchmark, model and modality, means over seeds: r_m and E[p_m] at the last epoch,
    the largest |E[p_m] - 0.5| over training (how far MIAM moved from the Beta hypercube), and
    the share of epochs whose d_m is above its floor (first and second half of training) and
    whose lam |log r_m| is clipped (second half)."""
    frame = dynamics.assign(
        moved=(dynamics["expected_p"] - 0.5).abs(),
        late=dynamics["epoch"] > dynamics["epochs"] / 2,
    )
    keys = ["benchmark", "model", "modality"]
    last = frame[frame["epoch"] == frame["epochs"]].groupby(keys, sort=False)
    last = last[["r", "expected_p"]].mean()
    per_seed = frame.groupby([*keys, "seed"], sort=False)
    summary = pd.DataFrame(
        {
            "r_last": last["r"],
            "expected_p_last": last["expected_p"],
            "max_p_shift": per_seed["moved"].max().groupby(keys, sort=False).mean(),
            "above_floor_early": frame[~frame["late"]].groupby(keys)["above_floor"].mean(),
            "above_floor_late": frame[frame["late"]].groupby(keys)["above_floor"].mean(),
            "clipped_late": frame[frame["late"]].groupby(keys)["clipped"].mean(),
        }
    )
    order = pd.MultiIndex.from_frame(frame[keys].drop_duplicates())
    return summary.reindex(order).reset_index()


# The finding: sentences with fixed wording per verdict, from verdicts.csv alone. ---------------


def format_interval(row) -> str:
    """'+0.42 pp [+0.05, +0.79]': two decimals, so that an interval end just above 0 does not
    print as 0 beside `beats`."""
    if not math.isfinite(row["low"]):
        return f"{row['mean']:+.2f} pp (no interval)"
    return f"{row['mean']:+.2f} pp [{row['low']:+.2f}, {row['high']:+.2f}]"


def power_note(row) -> str:
    """'n seeds, half-width h' and, where it is wider than planned, 'underpowered'."""
    if not math.isfinite(row["half_width"]):
        return f"{row['n_seeds']} seed(s), no interval"
    note = f"{row['n_seeds']} seeds, half-width {row['half_width']:.2f} pp"
    if not row["powered"]:
        note += f", *underpowered*: planned {row['planned_half_width']:.2f}"
    return note


def verdict_phrase(verdict: str, rows: pd.DataFrame) -> str:
    """The fixed wording of each verdict for a comparison a - b (its rows). The gap to the
    oracle (a the oracle) is worded as its claim, b within the margin of the oracle or not;
    elsewhere `beats` says "by less than the margin" when every interval lies below it (an
    effect the preregistration calls small)."""
    first = rows.iloc[0]
    a, b, margin = label(first["a"]), label(first["b"]), first["margin"]
    if first["question"] == GAP:  # a is the oracle: the claim is b's distance to it
        return {
            BEATS: f"{a} beats {b} by more than {margin:g} pp",
            EQUIVALENT: f"{b} is within ±{margin:g} pp of {a}",
            INCONCLUSIVE: f"whether {b} is within {margin:g} pp of {a} is inconclusive",
            WORSE: f"{b} beats {a} by more than {margin:g} pp",
        }[verdict]
    beats = f"{a} beats {b}"
    if (rows["high"] < margin).all():
        beats += f", by less than {margin:g} pp"
    return {
        BEATS: beats,
        EQUIVALENT: f"{a} is equivalent to {b} within ±{margin:g} pp",
        INCONCLUSIVE: f"{a} against {b} is inconclusive",
        WORSE: f"{a} is worse than {b}",
        UNTESTABLE: f"{a} against {b} cannot be tested here",
    }[verdict]


def row_text(row) -> str:
    return f"{row['subset']} {format_interval(row)} ({power_note(row)})"


def comparison_sentence(
    rows: pd.DataFrame, decision_columns: Sequence[str], prefix: str = ""
) -> str:
    """'[prefix: ]A beats B: weak mean +1.20 pp [+0.40, +2.00] (10 seeds, ...); ...'."""
    verdict = comparison_verdict(rows, decision_columns)
    shown = rows[rows["subset"].isin(list(decision_columns))]
    details = "; ".join(row_text(row) for _, row in shown.iterrows())
    phrase = verdict_phrase(verdict, shown if not shown.empty else rows)
    if not prefix:
        phrase = phrase[0].upper() + phrase[1:]
    return f"{prefix}{phrase}: {details}."


def benchmark_verdict(rows: pd.DataFrame, decision_columns: Sequence[str], primary: str) -> str:
    """The primary MIAM arm's verdict on one benchmark (the heading's word for it)."""
    miam = rows[(rows["question"] == MIAM_QUESTION) & (rows["a"] == primary)]
    return comparison_verdict(miam, decision_columns) if not miam.empty else UNTESTABLE


def lead_comparison(rows: pd.DataFrame, question: str, preregistration: Mapping) -> pd.DataFrame:
    """The rows of the comparison a question's sentence reports: the primary MIAM arm for MIAM
    and the gap, the first positive control with headroom (else the first registered), and
    for the others the first registered comparison the benchmark has."""
    asked = rows[rows["question"] == question]
    if question in (MIAM_QUESTION, GAP):
        primary = asked[asked["b" if question == GAP else "a"] == preregistration["primary"]]
        asked = primary if not primary.empty else asked
    if question == POSITIVE:
        with_headroom = [
            comparison
            for comparison, compared in asked.groupby("comparison", sort=False)
            if has_headroom(compared, preregistration["headroom"])
        ]
        if with_headroom:
            asked = asked[asked["comparison"] == with_headroom[0]]
    if asked.empty:
        return asked
    return asked[asked["comparison"] == asked["comparison"].iloc[0]]


def finding(table: pd.DataFrame, preregistration: Mapping) -> str:
    """The study's heading and, per benchmark, one sentence per question (one comparison, its
    cited columns, n seeds): the positive control first with whether the benchmark can test
    MIAM, the negative control, the primary MIAM arm read against the control, the ladder and
    the gap to the oracle on `avg`. Every other row is in verdicts.md and verdicts.csv."""
    decision = preregistration["decision_columns"]
    primary = preregistration["primary"]
    headline = "; ".join(
        f"{benchmark} {word_for(rows, decision, primary, preregistration['margin'])}"
        for benchmark, rows in table.groupby("dataset", sort=False)
    )
    lines = [f"### MIAM against the Beta hypercube, the decisive study: {headline}", ""]
    for benchmark, rows in table.groupby("dataset", sort=False):
        testable = has_headroom(rows, preregistration["headroom"])
        sentences = []
        for question in QUESTIONS:
            columns = cited_columns(question, decision)
            compared = lead_comparison(rows, question, preregistration)
            compared = compared[compared["subset"].isin(columns)]
            if compared.empty:
                continue
            sentence = comparison_sentence(compared, columns, PREFIXES.get(question, ""))
            if question == POSITIVE:
                sentence = (
                    f"{sentence[:-1]}; so this benchmark {'can' if testable else 'cannot'} "
                    "reveal a modality-level push over the Beta hypercube (pre-registered: a "
                    "positive control's weak-mean interval above 0 with a mean of at least "
                    f"{preregistration['headroom']:g} pp)."
                )
            sentences.append(sentence)
        lines += [f"**{benchmark}**", "", *[f"- {sentence}" for sentence in sentences], ""]
    return "\n".join(lines).rstrip() + "\n"


def verdicts_markdown(table: pd.DataFrame) -> str:
    """Every row the finding and the forest plot cite, as a Markdown table (benchmark order,
    then the questions' order)."""
    lines = [
        "| benchmark | question | a − b | column | seeds | a − b (pp), 95 % interval "
        "| half-width (planned) | verdict |",
        "|---|---|---|---|---:|---|---|---|",
    ]
    for row in table[table["cited"]].to_dict("records"):
        interval = format_interval(row).replace(" pp", "")
        planned = f"{row['half_width']:.2f} ({row['planned_half_width']:.2f})"
        if not row["powered"]:
            planned += " underpowered"
        lines.append(
            f"| {row['dataset']} | {row['question']} | {row['a']} − {row['b']} "
            f"| {row['subset']} | {row['n_seeds']} | {interval} | {planned} | {row['verdict']} |"
        )
    return "\n".join(lines) + "\n"


def word_for(
    rows: pd.DataFrame, decision_columns: Sequence[str], primary: str, margin: float
) -> str:
    """The heading's phrase for a benchmark's primary verdict (benchmark_verdict)."""
    verdict = benchmark_verdict(rows, decision_columns, primary)
    miam = rows[(rows["question"] == MIAM_QUESTION) & (rows["a"] == primary)]
    small = verdict == BEATS and (miam["high"] < margin).all()
    return {
        BEATS: f"MIAM beats it{f', by less than {margin:g} pp' if small else ''}",
        EQUIVALENT: f"equivalent within ±{margin:g} pp",
        INCONCLUSIVE: "inconclusive",
        WORSE: "MIAM is worse",
        UNTESTABLE: "cannot be tested here",
    }[verdict]


def preregistration_text(preregistration: Mapping) -> str:
    """The preregistration as the pages quote it, from the config's block."""
    p = preregistration
    comparisons = "\n".join(
        f"- {c['question']}: {c['a']} - {c['b']}"
        + (f" (margin {p['gap_margin']:g} pp)" if c["question"] == GAP else "")
        for c in p["comparisons"]
    )
    return "\n".join(
        [
            f"Registered {p['registered']}. Budget: x{p['budget']:g} the demo's optimisation "
            f"steps. Columns: {', '.join(p['columns'])}. Each question's verdict is read on "
            f"{cited_text(p['decision_columns'])}.",
            "",
            f"Rule per row a - b (95 % paired t interval over seeds): **beats** if the interval "
            f"lies above 0; **worse** if below 0; **equivalent within ±delta** if inside "
            f"[-delta, +delta], delta = {p['margin']:g} pp; otherwise **inconclusive**. The gap "
            f"to the oracle (oracle - model) has margin {p['gap_margin']:g} pp and is about it: "
            f"**beats** (the oracle ahead by more than the margin) if the interval lies above "
            f"+{p['gap_margin']:g} pp, **equivalent** if inside ±{p['gap_margin']:g} pp, "
            f"**worse** below -{p['gap_margin']:g} pp, otherwise **inconclusive**. "
            f"MIAM's rows on a benchmark are "
            f"**cannot be tested here** unless a positive control's weak-mean interval lies "
            f"above 0 with a mean of at least {p['headroom']:g} pp.",
            "",
            f"Power: planned half-width delta / 2 = {p['margin'] / 2:g} pp; seed counts planned "
            f"with the pilot's paired SD {p['planning_sd']:g} pp on the weak mean "
            f"({seeds_needed(p['planning_sd'], p['margin'] / 2)} seeds would reach delta / 2); a "
            "row wider than planned is *underpowered*.",
            "",
            comparisons,
        ]
    )


def cited_text(decision_columns: Sequence[str]) -> str:
    """Which columns decide each question, as the preregistration states it."""
    return "; ".join(
        f"{question}: {' and '.join(cited_columns(question, decision_columns))}"
        + (" (a verdict they share, else inconclusive)" if question == MIAM_QUESTION else "")
        for question in QUESTIONS
    )


TABLES = ("scores", "verdicts", "dynamics", "dynamics_summary")
TEXTS = ("finding.md", "preregistration.md", "verdicts.md")


def write_study(
    points: Mapping[str, str],
    evaluations: Iterable[str | Path],
    histories: Iterable[str | Path],
    benchmarks: Mapping[str, Mapping],
    preregistration: Mapping,
    folder: str | Path,
) -> list[Path]:
    """Write `<table>.csv` for each of TABLES and the TEXTS into `folder`."""
    scores = study_scores(points, evaluations)
    dynamics = study_dynamics(points, histories)
    table = verdicts(per_seed_columns(scores, benchmarks), preregistration)
    tables = {
        "scores": scores,
        "verdicts": table,
        "dynamics": dynamics,
        "dynamics_summary": dynamics_summary(dynamics),
    }
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in TABLES:
        paths.append(folder / f"{name}.csv")
        tables[name].to_csv(paths[-1], index=False)
    texts = {
        "finding.md": finding(table, preregistration),
        "preregistration.md": preregistration_text(preregistration) + "\n",
        "verdicts.md": verdicts_markdown(table),
    }
    for name in TEXTS:
        paths.append(folder / name)
        paths[-1].write_text(texts[name], encoding="utf-8")
    return paths


# Publishing: the generated blocks of the README and docs/study.md. ---------------------------

BEGIN, END = "<!-- study:begin -->", "<!-- study:end -->"
COST_BEGIN, COST_END = "<!-- study-cost:begin -->", "<!-- study-cost:end -->"
PREREGISTRATION_BEGIN, PREREGISTRATION_END = (
    "<!-- preregistration:begin -->",
    "<!-- preregistration:end -->",
)
PUBLISHED = (
    "verdicts.csv",
    "verdicts.md",
    "dynamics_summary.csv",
    "finding.md",
    "preregistration.md",
)
PUBLISHED_FIGURES = ("forest.png",)


def replace_block(text: str, block: str, begin: str, end: str) -> str:
    """`text` with what lies between `begin` and `end` replaced by `block`."""
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"no {begin} ... {end} block to replace")
    return text[: start + len(begin)] + "\n" + block.strip() + "\n" + text[stop:]


def study_cost(results: Path, datasets: Iterable[str]) -> tuple[pd.DataFrame, float]:
    """Per stage: jobs, summed job wall and CPU seconds over the study's datasets
    (job_costs.stage_table); and the elapsed seconds from the first job's start to the last
    one's end."""
    jobs = job_benchmarks(results, datasets)
    return stage_table(jobs), float(jobs["ended"].max() - jobs["started"].min())


def cost_text(table: pd.DataFrame, elapsed: float, machine: str) -> str:
    """The study's measured cost as docs/study.md states it."""
    total = table.loc["total"]
    lines = [
        f"Measured on {machine}, from the jobs' benchmark files: {int(total['jobs'])} jobs, "
        f"**{elapsed / 60:.0f} minutes** from the first job's start to the last one's end with "
        f"`--cores 2`; the jobs' own wall times sum to {total['wall_s'] / 3600:.2f} hours "
        f"({total['wall_s']:.0f} job-seconds; the CPU time Snakemake samples during each job: "
        f"{total['cpu_s']:.0f} s).",
        "",
        "| stage | jobs | job wall s | job CPU s |",
        "|---|---:|---:|---:|",
        *[
            f"| {stage} | {int(row['jobs'])} | {row['wall_s']:.0f} | {row['cpu_s']:.0f} |"
            for stage, row in table.iterrows()
        ],
    ]
    return "\n".join(lines)


def provenance(folder: Path) -> str:
    """Where a study's tables come from: their date, and the machine and float setup that
    publishes them (the run's own, as publish runs where the study ran)."""
    when = pd.Timestamp((folder / "verdicts.csv").stat().st_mtime, unit="s")
    return (
        f"Generated by `python -m miam.analysis.study` from the study's tables of "
        f"{when:%Y-%m-%d %H:%M} UTC on {machine()}; {float_setup()}."
    )


def publish(folder: Path, readme: Path, page: Path, figures: Path) -> None:
    """Copy the study's verdicts, texts and forest plot into `figures`, and its finding (with
    the forest plot and the tables' links) and preregistration into the generated blocks of
    `readme` and `page`."""
    figures.mkdir(parents=True, exist_ok=True)
    for name in PUBLISHED:
        shutil.copyfile(folder / name, figures / name)
    for name in PUBLISHED_FIGURES:
        shutil.copyfile(folder / "figures" / name, figures / name)
    finding_text = (folder / "finding.md").read_text(encoding="utf-8")
    prereg = (folder / "preregistration.md").read_text(encoding="utf-8")
    cited = (folder / "verdicts.md").read_text(encoding="utf-8")
    for path in (readme, page):
        where = Path(os.path.relpath(figures, path.parent)).as_posix()
        block = "\n".join(
            [
                finding_text.strip(),
                "",
                provenance(folder),
                "",
                f"![The rows the finding cites, per benchmark, coloured by verdict; shaded: "
                f"±margin]({where}/forest.png)",
                "",
                # The page has room for every cited row; the README links them.
                *([cited.strip(), ""] if path == page else []),
                f"Every row: [verdicts.csv]({where}/verdicts.csv); what MIAM's imbalance term "
                f"did over training: [dynamics_summary.csv]({where}/dynamics_summary.csv).",
            ]
        )
        text = replace_block(path.read_text(encoding="utf-8"), block, BEGIN, END)
        if PREREGISTRATION_BEGIN in text:
            text = replace_block(text, prereg, PREREGISTRATION_BEGIN, PREREGISTRATION_END)
        if COST_BEGIN in text:
            datasets = pd.read_csv(folder / "scores.csv")["dataset"].unique()
            table, elapsed = study_cost(folder.parents[1], datasets)
            text = replace_block(text, cost_text(table, elapsed, machine()), COST_BEGIN, COST_END)
        path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Publish a study's finding (after `study`).")
    parser.add_argument(
        "folder", type=Path, help="the study's folder (the `study` target writes it)"
    )
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    parser.add_argument("--page", type=Path, default=Path("docs/study.md"))
    parser.add_argument("--figures", type=Path, default=Path("docs/figures/study"))
    args = parser.parse_args(argv)
    publish(args.folder, args.readme, args.page, args.figures)
    print(f"wrote the study blocks of {args.readme} and {args.page}, and {args.figures}/")


if __name__ == "__main__":
    main()
