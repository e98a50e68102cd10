"""The paper's claims, tested on one dataset's evaluation rows with paired differences over seeds.

Every claim compares two models on one column (a named subset, `avg` = the mean over the named
subsets, or `weak mean` = the mean over the dataset's weak subsets), always on the same seeds:

    difference per seed = score(a, seed) - score(b, seed),  in percentage points (pp);
    mean difference d and its 95 % t interval d ± t(0.975, n - 1) · sd / sqrt(n) over the n seeds
    that both models have (seeds are the independent replicates; subsets are not).

Pairing removes what two models of one seed share (split, initialisation, data order), so the
interval is usually much narrower than the two tables' standard deviations suggest. With one
seed there is no interval and every verdict is `inconclusive`.

Verdicts (`verdict`):
- A claim that a beats b ("a - b > 0"): `reproduced` when the interval lies above 0; `not
  reproduced` when it lies below 0, or inside the practical-equivalence margin
  [-EQUIVALENCE_MARGIN, +EQUIVALENCE_MARGIN] (the difference is then shown to be too small to
  matter); otherwise `inconclusive`. An interval above 0 that also lies inside the margin is
  `reproduced`, with a note that the gain is below the margin.
- MIAM's gap to the oracle ("oracle - MIAM < ORACLE_MARGIN"): `reproduced` when the whole interval
  lies below the margin, `not reproduced` when it lies above it, otherwise `inconclusive`.

The margins are in percentage points of the primary metric. EQUIVALENCE_MARGIN = 0.5 pp is half
the smallest average gain the paper reports for MIAM over uniform masking (TaxaBench, +1.0 pp
top-1; GeoPlant: +2.9 pp AUC): an interval inside ±0.5 pp rules out every effect of the size the
paper claims. ORACLE_MARGIN = 2 pp: the paper's average gaps to the oracle are 1.1 pp (GeoPlant)
and 1.3 pp (TaxaBench), so "close to the oracle" is taken as under 2 pp (the paper's own per-subset
gap exceeds it once, 6.3 pp on the Sentinel-2 centre patch).

Models are the config's strategy names (its `strategies` keys): `miam`, the baselines of
BASELINES, the ladder of PRINCIPLE_LADDER, `miam_uniform_corners`, and `oracle`. A claim whose
models are not in the run is skipped, with a note saying why. A strategy given list-valued
parameters is its selected row (miam.analysis.selection): per seed, the variant best on
validation; each claim's note names the variant every seed used, for MIAM and for a baseline
selected the same way alike.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from miam.analysis.selection import chosen_variants, describe_choice
from miam.analysis.tables import (
    CORNER_ABLATION,
    METRIC_LABELS,
    ORACLE,
    PRINCIPLE_LADDER,
    Table,
    html_blocks,
    html_page,
    inline_html,
    markdown_html,
    one_decimal,
    primary_metric,
)

MIAM = "miam"
BASELINES = ("uniform", "constant", "dirichlet", "modality_dropout", "opm")
AVERAGE = "avg"
WEAK_MEAN = "weak mean"
EQUIVALENCE_MARGIN = 0.5  # pp
ORACLE_MARGIN = 2.0  # pp
CONFIDENCE = 0.95
# A verdict is "on the margin" when an end of its interval lies this close (pp) to a boundary
# that decides it (0, or a margin): float results move by a few tenths between CPUs and BLAS
# builds (the README names the machine), enough to move such a verdict on another machine.
MARGIN_TOLERANCE = 0.3  # pp
# What `write_claims` writes into the tables folder (the tables rule declares exactly these).
CLAIMS_FILES = ("claims.csv", "claims.md", "claims.html")
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)
# Claim kinds: a beats b (a - b > 0), or a - b stays below the oracle margin.
BEATS, BELOW_MARGIN = "beats", "below margin"
GROUPS = {
    "baselines": "MIAM against each baseline",
    "ladder": "Principle ladder: uniform → uniform hypercube → beta hypercube → MIAM",
    "corners": "Critical (1/4, 1/4) vs uniform corner weights",
    "oracle": "MIAM's gap to the per-subset oracle",
}
COLUMNS = [
    "group",
    "claim",
    "a",
    "b",
    "column",
    "kind",
    "n_seeds",
    "seeds",
    "mean_a",
    "mean_b",
    "difference",
    "sd",
    "ci_low",
    "ci_high",
    "margin",
    "verdict",
    "note",
    "chosen",  # a selected row's variant per seed (miam.analysis.selection), else empty
]


# Student's t quantile, without scipy (not in the report environment). ---------------------------


def t_two_sided_probability(t: float, df: int) -> float:
    """P(|T| <= t) for Student's T with integer `df` >= 1 (Abramowitz & Stegun 26.7.3-4)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    theta = math.atan(abs(t) / math.sqrt(df))
    cos2 = math.cos(theta) ** 2
    if df % 2 == 1:
        series, term = 0.0, math.cos(theta)  # cos θ + (2/3) cos³θ + (2·4)/(3·5) cos⁵θ + ...
        for k in range(1, (df - 1) // 2 + 1):
            series += term
            term *= cos2 * (2 * k) / (2 * k + 1)
        return (2 / math.pi) * (theta + math.sin(theta) * series)
    series, term = 0.0, 1.0  # 1 + (1/2) cos²θ + (1·3)/(2·4) cos⁴θ + ...
    for k in range(1, df // 2 + 1):
        series += term
        term *= cos2 * (2 * k - 1) / (2 * k)
    return math.sin(theta) * series


def t_quantile(probability: float, df: int) -> float:
    """The `probability` quantile (> 0.5) of Student's t with integer `df`, by bisection."""
    if not 0.5 < probability < 1:
        raise ValueError(f"probability must be in (0.5, 1), got {probability}")
    coverage = 2 * probability - 1
    low, high = 0.0, 1.0
    while t_two_sided_probability(high, df) < coverage:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        if t_two_sided_probability(middle, df) < coverage:
            low = middle
        else:
            high = middle
        if high - low < 1e-12:
            break
    return (low + high) / 2


# Paired differences. ------------------------------------------------------------------------------


@dataclass
class Paired:
    """Mean of per-seed differences a - b, its sd (ddof 1) and 95 % t interval; NaN if n < 2."""

    seeds: list[int]
    differences: list[float]
    mean_a: float = math.nan
    mean_b: float = math.nan
    mean: float = math.nan
    sd: float = math.nan
    low: float = math.nan
    high: float = math.nan

    @property
    def n(self) -> int:
        return len(self.seeds)


def paired_difference(a: pd.Series, b: pd.Series, confidence: float = CONFIDENCE) -> Paired:
    """a, b: scores indexed by seed; only the seeds both have (and both finite) are paired."""
    both = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner").dropna()
    both = both.sort_index()
    differences = (both["a"] - both["b"]).tolist()
    paired = Paired([int(s) for s in both.index], differences)
    if paired.n == 0:
        return paired
    paired.mean_a, paired.mean_b = float(both["a"].mean()), float(both["b"].mean())
    paired.mean = float(sum(differences) / paired.n)
    if paired.n >= 2:
        paired.sd = math.sqrt(sum((d - paired.mean) ** 2 for d in differences) / (paired.n - 1))
        half = t_quantile(0.5 + confidence / 2, paired.n - 1) * paired.sd / math.sqrt(paired.n)
        paired.low, paired.high = paired.mean - half, paired.mean + half
    return paired


def verdict(
    paired: Paired,
    kind: str = BEATS,
    equivalence_margin: float = EQUIVALENCE_MARGIN,
    oracle_margin: float = ORACLE_MARGIN,
) -> tuple[str, str]:
    """(verdict, note) of one claim from its paired difference (see the module docstring)."""
    if paired.n == 0:
        return INCONCLUSIVE, "no seed with both models"
    if paired.n == 1:
        return INCONCLUSIVE, "1 seed: no interval"
    low, high = paired.low, paired.high
    if kind == BELOW_MARGIN:
        if high < oracle_margin:
            return REPRODUCED, f"whole interval below {oracle_margin:g} pp"
        if low > oracle_margin:
            return NOT_REPRODUCED, f"whole interval above {oracle_margin:g} pp"
        return INCONCLUSIVE, f"interval contains {oracle_margin:g} pp"
    if kind != BEATS:
        raise ValueError(f"unknown claim kind {kind!r}")
    if low > 0:
        small = high <= equivalence_margin
        return REPRODUCED, f"gain below the {equivalence_margin:g} pp margin" if small else ""
    if high < 0:
        return NOT_REPRODUCED, "reversed: interval below 0"
    if -equivalence_margin <= low and high <= equivalence_margin:
        if all(d == 0 for d in paired.differences):
            return NOT_REPRODUCED, "identical scores on every seed"
        return NOT_REPRODUCED, f"equivalent: interval within ±{equivalence_margin:g} pp"
    return INCONCLUSIVE, "interval contains 0"


def verdict_notes(row) -> str:
    """What a claim's verdict is shown with: its note, and "on the margin" where it is."""
    notes = [row["note"]] * bool(row["note"])
    if on_the_margin(row["ci_low"], row["ci_high"], row["kind"], row["margin"]):
        notes.append("on the margin")
    return "; ".join(notes)


def on_the_margin(
    low: float, high: float, kind: str, margin: float, tolerance: float = MARGIN_TOLERANCE
) -> bool:
    """Whether moving the ends of the interval [low, high] by up to `tolerance` could change its
    verdict (an end that close to 0 or to the claim's `margin`)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return False
    if low == high == 0.0:  # identical scores on every seed: one model, on any machine
        return False
    margins = {"oracle_margin" if kind == BELOW_MARGIN else "equivalence_margin": margin}

    def decided(lo: float, hi: float) -> str:
        return verdict(Paired([0, 1], [lo, hi], low=lo, high=hi), kind, **margins)[0]

    shifts = (-tolerance, tolerance)
    return any(decided(low + a, high + b) != decided(low, high) for a in shifts for b in shifts)


# Which claims, for a given config. ---------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    group: str  # a key of GROUPS
    claim: str  # the statement, as the paper makes it
    a: str
    b: str
    column: str  # a named subset, AVERAGE or WEAK_MEAN
    kind: str = BEATS


@dataclass
class ClaimList:
    claims: list[Claim] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # why a claim was left out


def column_label(column: str, weak_subsets: Sequence[str]) -> str:
    if column == AVERAGE:
        return "avg (all named subsets)"
    if column == WEAK_MEAN:
        return "mean of the weak subsets"
    return f"{column} (weak)" if column in weak_subsets else column


def paper_claims(
    models: Sequence[str],
    subsets: Sequence[str],
    weak_subsets: Sequence[str],
    oracle_margin: float = ORACLE_MARGIN,
    oracle_subsets: Sequence[str] | None = None,
) -> ClaimList:
    """The paper's claims that the models of this run can test.

    models: the strategy names of the config (its `strategies` keys) plus `oracle` when oracles
        were trained; subsets: the named subsets in column order; weak_subsets: the config's;
        oracle_subsets: the subsets that have an oracle (None: all; `avg` needs all).
    """
    present = set(models)
    weak = [s for s in weak_subsets if s in subsets]
    out = ClaimList()
    out.skipped += [
        f"weak subset {s!r} is not a named subset" for s in weak_subsets if s not in weak
    ]
    weak_columns = [*weak, AVERAGE]
    summary_columns = [AVERAGE, *([WEAK_MEAN] if weak else [])]
    if not weak:
        out.skipped.append("no weak subsets in the config: claims on weak subsets skipped")

    if MIAM not in present:
        out.skipped.append("`miam` is not in the config: every claim about MIAM skipped")
    for baseline in BASELINES:
        if MIAM not in present:
            break
        if baseline not in present:
            out.skipped.append(f"MIAM vs {baseline}: `{baseline}` is not in the config")
            continue
        for column in weak_columns:
            label = column_label(column, weak)
            out.claims.append(
                Claim("baselines", f"MIAM beats {baseline} on {label}", MIAM, baseline, column)
            )

    for lower, upper in itertools.pairwise(PRINCIPLE_LADDER):
        absent = [m for m in (lower, upper) if m not in present]
        if absent:
            names = ", ".join(f"`{m}`" for m in absent)
            out.skipped.append(f"ladder step {lower} → {upper}: {names} not in the config")
            continue
        for column in summary_columns:
            label = column_label(column, weak)
            out.claims.append(
                Claim("ladder", f"{lower} → {upper} improves {label}", upper, lower, column)
            )

    uniform_corners, critical = CORNER_ABLATION
    absent = [m for m in CORNER_ABLATION if m not in present]
    if absent:
        names = ", ".join(f"`{m}`" for m in absent)
        out.skipped.append(f"corner weights: {names} not in the config")
    else:
        for column in summary_columns:
            label = column_label(column, weak)
            statement = f"critical corner weights beat uniform ones on {label}"
            out.claims.append(Claim("corners", statement, critical, uniform_corners, column))

    absent = [m for m in (MIAM, ORACLE) if m not in present]
    if absent:
        names = ", ".join(f"`{m}`" for m in absent)
        out.skipped.append(f"gap to the oracle: {names} not in the run (`oracles: false`?)")
    else:
        with_oracle = list(subsets) if oracle_subsets is None else list(oracle_subsets)
        if len(with_oracle) < len(subsets):
            out.skipped.append(
                f"gap to the oracle on {len(subsets) - len(with_oracle)} subsets and on avg: "
                "no oracle trained for them (`oracles` lists some subsets)"
            )
        for column in [s for s in subsets if s in with_oracle] + (
            [AVERAGE] if len(with_oracle) == len(subsets) else []
        ):
            label = column_label(column, weak)
            statement = f"MIAM is within {oracle_margin:g} pp of the oracle on {label}"
            out.claims.append(Claim("oracle", statement, ORACLE, MIAM, column, BELOW_MARGIN))
    return out


# Scores per seed and the claims table. ------------------------------------------------------------


def column_scores(
    evaluations: pd.DataFrame,
    subsets: Sequence[str],
    weak_subsets: Sequence[str],
    split: str = "test",
    metric: str | None = None,
) -> pd.DataFrame:
    """Per-seed (model, seed, column, value) in percent: each named subset, AVERAGE, WEAK_MEAN.

    A mean column is NaN for a (model, seed) that lacks one of its subsets (no partial means).
    """
    metric = metric or primary_metric(evaluations)
    rows = evaluations[
        (evaluations["split"] == split)
        & (evaluations["metric"] == metric)
        & (evaluations["family"] == "named")
        & evaluations["subset"].isin(list(subsets))
    ]
    single = rows[["model", "seed", "subset", "value"]].rename(columns={"subset": "column"})
    single = single.assign(value=100 * single["value"])
    frames = [single]
    weak = [s for s in weak_subsets if s in subsets]
    for column, chosen in ((AVERAGE, list(subsets)), (WEAK_MEAN, weak)):
        if not chosen:
            continue
        part = single[single["column"].isin(chosen)].groupby(["model", "seed"])["value"]
        mean = part.mean().where(part.count() == len(chosen))
        frames.append(mean.rename("value").reset_index().assign(column=column))
    return pd.concat(frames, ignore_index=True)[["model", "seed", "column", "value"]]


@dataclass
class ClaimsTable:
    dataset: str
    metric: str
    split: str
    seeds: list[int]  # the seeds of the run's strategy models
    rows: pd.DataFrame  # COLUMNS, one row per claim
    skipped: list[str]
    equivalence_margin: float = EQUIVALENCE_MARGIN
    oracle_margin: float = ORACLE_MARGIN
    # Row -> the variant it reports per seed, for rows chosen on validation (column `chosen`).
    selections: dict[str, str] = field(default_factory=dict)


def claims_table(
    evaluations: pd.DataFrame,
    strategies: Sequence[str],
    subsets: Sequence[str],
    weak_subsets: Sequence[str],
    split: str = "test",
    equivalence_margin: float = EQUIVALENCE_MARGIN,
    oracle_margin: float = ORACLE_MARGIN,
) -> ClaimsTable:
    """Every claim of `paper_claims` with its paired difference, interval and verdict.

    strategies: the config's strategy names; a strategy without evaluation rows counts as absent.
    """
    metric = primary_metric(evaluations)
    evaluated = set(evaluations["model"])
    models = [s for s in strategies if s in evaluated]
    missing = [s for s in strategies if s not in evaluated]
    if ORACLE in evaluated:
        models.append(ORACLE)
    oracle_rows = evaluations[evaluations["model"] == ORACLE]
    with_oracle = [s for s in subsets if s in set(oracle_rows["subset"])]
    listed = paper_claims(models, subsets, weak_subsets, oracle_margin, with_oracle)
    skipped = [f"`{s}` is in the config but has no evaluation rows" for s in missing]
    skipped += listed.skipped
    scores = column_scores(evaluations, subsets, weak_subsets, split, metric)
    by_key = {
        key: group.set_index("seed")["value"] for key, group in scores.groupby(["model", "column"])
    }
    empty = pd.Series(dtype=float)
    choices = chosen_variants(evaluations)
    records = []
    for claim in listed.claims:
        paired = paired_difference(
            by_key.get((claim.a, claim.column), empty), by_key.get((claim.b, claim.column), empty)
        )
        result, note = verdict(paired, claim.kind, equivalence_margin, oracle_margin)
        chosen = "; ".join(
            f"{model} = {describe_choice(choices[model])}"
            for model in (claim.a, claim.b)
            if model in choices
        )
        margin = oracle_margin if claim.kind == BELOW_MARGIN else equivalence_margin
        records.append(
            {
                "group": claim.group,
                "claim": claim.claim,
                "a": claim.a,
                "b": claim.b,
                "column": claim.column,
                "kind": claim.kind,
                "n_seeds": paired.n,
                "seeds": " ".join(str(s) for s in paired.seeds),
                "mean_a": paired.mean_a,
                "mean_b": paired.mean_b,
                "difference": paired.mean,
                "sd": paired.sd,
                "ci_low": paired.low,
                "ci_high": paired.high,
                "margin": margin,
                "verdict": result,
                "note": note,
                "chosen": chosen,
            }
        )
    rows = pd.DataFrame(records, columns=COLUMNS)
    dataset = str(evaluations["dataset"].iloc[0]) if len(evaluations) else ""
    selections = {row: describe_choice(seeds) for row, seeds in choices.items()}
    seeds = sorted(int(s) for s in scores.loc[scores["model"].isin(strategies), "seed"].unique())
    return ClaimsTable(
        dataset, metric, split, seeds, rows, skipped, equivalence_margin, oracle_margin, selections
    )


# Writers. ----------------------------------------------------------------------------------------


def format_pp(value: float) -> str:
    return "–" if not math.isfinite(value) else one_decimal(value, "+")


def format_interval(low: float, high: float) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return "–"
    return f"[{one_decimal(low, '+')}, {one_decimal(high, '+')}]"


def rule_text(table: ClaimsTable) -> str:
    """How every number and verdict of the table is obtained, for the reader."""
    eq, oracle = table.equivalence_margin, table.oracle_margin
    return (
        f"Each row compares two models on the same seeds: the per-seed difference a − b of the "
        f"{METRIC_LABELS[table.metric]} on the {table.split} split, in percentage points (pp), its "
        f"mean over the seeds and the 95 % t interval over seeds (mean ± t(0.975, n−1) · sd/√n; "
        f'no interval with 1 seed). Verdict for "a beats b": **reproduced** if the interval '
        f"lies above 0; **not reproduced** if it lies below 0 or inside ±{eq:g} pp (the "
        f"practical-equivalence margin: half the paper's smallest average gain of MIAM over "
        f"uniform masking); **inconclusive** otherwise. For the gap to the oracle (oracle − "
        f"MIAM): reproduced if the interval lies below {oracle:g} pp, not reproduced if above. "
        f"**On the margin**: an end of the interval lies within {MARGIN_TOLERANCE:g} pp of 0 or of "
        "a margin, so the few tenths by which float results move between CPUs can move it."
    )


def verdict_counts(table: ClaimsTable) -> dict[str, int]:
    counts = table.rows["verdict"].value_counts()
    return {v: int(counts.get(v, 0)) for v in VERDICTS}


def rows_markdown(rows: pd.DataFrame) -> list[str]:
    """Markdown lines of claims rows (COLUMNS), one table per group under its title."""
    lines: list[str] = []
    for group, title in GROUPS.items():
        chosen = rows[rows["group"] == group]
        if chosen.empty:
            continue
        lines += [
            f"**{title}**",
            "",
            "| claim | a − b | a (mean) | b (mean) | difference (pp) | 95 % interval | seeds "
            "| verdict |",
            "|---|---|---:|---:|---:|---|---:|---|",
        ]
        for row in chosen.itertuples():
            shown = f"**{row.verdict}**" if row.verdict == REPRODUCED else row.verdict
            notes = verdict_notes(row._asdict())
            if notes:
                shown += f" ({notes})"
            mean_a = "–" if not math.isfinite(row.mean_a) else one_decimal(row.mean_a)
            mean_b = "–" if not math.isfinite(row.mean_b) else one_decimal(row.mean_b)
            lines.append(
                f"| {row.claim} | {row.a} − {row.b} | {mean_a} | {mean_b} | "
                f"{format_pp(row.difference)} | {format_interval(row.ci_low, row.ci_high)} | "
                f"{row.n_seeds} | {shown} |"
            )
        lines.append("")
    return lines[:-1]


def describe(row) -> str:
    """One claims row as a sentence fragment: 'miam − uniform on avg: +1.2 pp [−0.3, +2.7]
    over 3 seeds, inconclusive (interval contains 0)'."""
    interval = format_interval(row["ci_low"], row["ci_high"])
    spread = f" {interval}" if interval != "–" else ""
    notes = verdict_notes(row)
    note = f" ({notes})" if notes else ""
    return (
        f"{row['a']} − {row['b']} on `{row['column']}`: {format_pp(row['difference'])} pp"
        f"{spread} over {row['n_seeds']} seed{'s' if row['n_seeds'] != 1 else ''}, "
        f"**{row['verdict']}**{note}"
    )


def to_markdown(table: ClaimsTable) -> str:
    seeds = table.seeds
    seed_text = f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''}" + (
        f" ({', '.join(map(str, seeds))})" if seeds else ""
    )
    counts = verdict_counts(table)
    lines = [
        f"**The paper's claims on `{table.dataset}`: {METRIC_LABELS[table.metric]}, "
        f"{table.split} split, {seed_text}**",
        "",
        rule_text(table),
        "",
        "Verdicts: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + ".",
    ]
    if len(seeds) == 1:
        lines += ["", "_One seed: no interval, so every verdict is inconclusive; add seeds._"]
    if table.selections:
        lines += ["", "Rows chosen on validation, per seed (the variant each seed reports):", ""]
        lines += [f"- `{row}` = {text}" for row, text in table.selections.items()]
    lines += ["", *rows_markdown(table.rows)]
    if table.skipped:
        lines += ["", "Not tested in this run:", ""]
        lines += [f"- {reason}" for reason in table.skipped]
    return "\n".join(lines) + "\n"


def summary_html(table: ClaimsTable, main: Table, columns: Sequence[str]) -> str:
    """The run's result on one dataset in a few lines, for the top of the report: the verdict
    counts, the headline claims (MIAM against uniform masking, the gap to the oracle) and every
    model on the summary `columns` of the main table."""
    rows = table.rows
    counts = verdict_counts(table)
    headline = rows[((rows["a"] == MIAM) & (rows["b"] == "uniform")) | (rows["group"] == "oracle")]
    headline = headline[headline["column"].isin([AVERAGE, WEAK_MEAN])]
    text = [
        f"**{table.dataset}**: {len(rows)} of the paper's claims tested on "
        f"{len(table.seeds)} seed{'s' if len(table.seeds) != 1 else ''}: "
        + ", ".join(f"{n} {v}" for v, n in counts.items())
        + " (every claim: `claims.html`).",
        "",
        *[f"- {describe(row)}" for _, row in headline.iterrows()],
    ]
    shown = [c for c in columns if c in main.columns]
    return (
        markdown_html("\n".join(text))
        + f"<p>{inline_html(main.title)}:</p>"
        + html_blocks(main, shown)
    )


def write_claims(table: ClaimsTable, folder: str | Path) -> list[Path]:
    """Write `claims.csv` (one row per claim, COLUMNS), `claims.md` and `claims.html` (the same
    as a page for the report) into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    csv, markdown, page = (folder / name for name in CLAIMS_FILES)
    table.rows.to_csv(csv, index=False)
    text = to_markdown(table)
    markdown.write_text(text, encoding="utf-8")
    page.write_text(html_page(f"claims ({table.dataset})", markdown_html(text)), encoding="utf-8")
    return [csv, markdown, page]


def read_claims(path: str | Path) -> pd.DataFrame:
    """`claims.csv` back, with empty notes as '' (not NaN)."""
    rows = pd.read_csv(path, dtype={"seeds": str, "chosen": str})
    return rows.assign(
        note=rows["note"].fillna(""),
        seeds=rows["seeds"].fillna(""),
        chosen=rows["chosen"].fillna(""),
    )
