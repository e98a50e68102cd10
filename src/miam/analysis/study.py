"""The study of docs/study.md: strategies against training budget and data size.

Each point of a study is one dataset of the config, trained and evaluated like any other, with
the budget (x the demo's optimisation steps) and data size (x the demo's samples) it stands for
(the config's `study` block). From the points' evaluation rows and training histories:

- `study_scores`: the tidy table, one row per (point, model, seed, split, subset) of the named
  subsets, with the variant a selected row reports;
- `oracle_gaps`: oracle - model on each subset that has an oracle, and on their weak mean;
- `differences`: paired differences between strategies (MIAM - uniform, MIAM - Beta hypercube,
  each option - the strategy it changes) on `avg`, the weak mean and `all`;
- `study_dynamics` and `dynamics_summary`: MIAM's r_m, E[p_m] and whether d_m is above its
  floor, over training;
- `finding`: the paragraph at the top of the notebook, written from those tables.

Pandas only (the workflow imports it on every parse); the figures: miam.analysis.study_figures.

Every interval is the claims table's: the 95 % t interval of the mean paired difference over
seeds (miam.analysis.claims.paired_difference), in percentage points.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from miam.analysis.claims import AVERAGE, WEAK_MEAN, column_scores, paired_difference
from miam.analysis.selection import VARIANT
from miam.analysis.tables import ORACLE, load_evaluations, primary_metric

POINT = ["dataset", "budget", "data"]
# Baselines every MIAM row is compared with: the ladder's first rung and the rung below MIAM.
BASELINES = ("uniform", "beta_hypercube")
# Options compared with the strategy they change: (option, reference).
OPTIONS = (
    ("uniform_per_batch", "uniform"),
    ("miam_above_chance", "miam[lam=1]"),
    ("miam_eps_floor", "miam[lam=1]"),
)
SUMMARY_COLUMNS = (AVERAGE, WEAK_MEAN, "all")
INTERVAL = ["n_seeds", "mean", "low", "high"]


def points_frame(points: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """dataset, budget, data: one row per point of the study."""
    return pd.DataFrame(
        [
            {"dataset": name, **{k: point[k] for k in ("budget", "data")}}
            for name, point in points.items()
        ]
    )


def study_scores(
    points: Mapping[str, Mapping[str, float]], evaluations: Iterable[str | Path]
) -> pd.DataFrame:
    """The tidy table: the primary metric of every model on the named subsets, per point, seed
    and split (val, test), with the variant a selected row reports (else empty)."""
    rows = load_evaluations(evaluations)
    rows = rows[(rows["family"] == "named") & (rows["metric"] == primary_metric(rows))]
    if VARIANT not in rows.columns:
        rows = rows.assign(**{VARIANT: ""})
    rows = rows.merge(points_frame(points), on="dataset")
    columns = [*POINT, "model", VARIANT, "seed", "split", "subset", "metric", "value"]
    return rows[columns].fillna({VARIANT: ""}).reset_index(drop=True)


def per_seed_columns(
    scores: pd.DataFrame, subsets: Sequence[str], weak_subsets: Sequence[str]
) -> pd.DataFrame:
    """Per point, model and seed: the test score in percent of each subset, `avg` and the weak
    mean (claims.column_scores, point by point)."""
    frames = []
    for point, rows in scores[scores["split"] == "test"].groupby(POINT):
        tidy = rows.assign(family="named")
        columns = column_scores(tidy, subsets, weak_subsets, "test", rows["metric"].iloc[0])
        frames.append(columns.assign(**dict(zip(POINT, point, strict=True))))
    return pd.concat(frames, ignore_index=True)


def interval_row(a: pd.Series, b: pd.Series) -> dict:
    paired = paired_difference(a, b)
    return {"n_seeds": paired.n, "mean": paired.mean, "low": paired.low, "high": paired.high}


def oracle_gaps(
    scores: pd.DataFrame, subsets: Sequence[str], weak_subsets: Sequence[str]
) -> pd.DataFrame:
    """Per point, model and column (each subset with an oracle, and the weak mean of those):
    oracle - model in pp, mean and 95 % interval over seeds."""
    columns = per_seed_columns(scores, subsets, weak_subsets)
    records = []
    for point, rows in columns.groupby(POINT):
        oracle_rows = scores[(scores["dataset"] == point[0]) & (scores["model"] == ORACLE)]
        with_oracle = [s for s in subsets if s in set(oracle_rows["subset"])]
        weak = [s for s in weak_subsets if s in with_oracle]
        oracle = oracle_rows[oracle_rows["split"] == "test"].assign(
            value=lambda f: 100 * f["value"]
        )
        oracle_by = {s: g.set_index("seed")["value"] for s, g in oracle.groupby("subset")}
        if weak:
            weak_scores = oracle[oracle["subset"].isin(weak)].groupby("seed")["value"]
            oracle_by[WEAK_MEAN] = weak_scores.mean().where(weak_scores.count() == len(weak))
        for model, model_rows in rows.groupby("model", sort=False):
            if model == ORACLE:
                continue
            by_column = model_rows.set_index(["column", "seed"])["value"]
            for column in [*with_oracle, *([WEAK_MEAN] if weak else [])]:
                if column not in by_column.index.get_level_values(0):
                    continue
                records.append(
                    dict(zip(POINT, point, strict=True))
                    | {"model": model, "column": column}
                    | interval_row(oracle_by[column], by_column.loc[column])
                )
    return pd.DataFrame(records, columns=[*POINT, "model", "column", *INTERVAL])


def comparisons(models: Iterable[str]) -> list[tuple[str, str]]:
    """(a, b) pairs compared: every MIAM row (selected, each lambda) against each baseline, and
    each option against the strategy it changes; only pairs whose models both exist."""
    present = list(dict.fromkeys(models))
    miam_rows = [m for m in present if m == "miam" or m.startswith("miam[")]
    pairs = [(a, b) for a in miam_rows for b in BASELINES if b in present]
    return pairs + [(a, b) for a, b in OPTIONS if a in present and b in present]


def differences(
    scores: pd.DataFrame, subsets: Sequence[str], weak_subsets: Sequence[str]
) -> pd.DataFrame:
    """Per point, pair of `comparisons` and column of SUMMARY_COLUMNS: a - b in pp, mean and
    95 % interval over seeds."""
    columns = per_seed_columns(scores, subsets, weak_subsets)
    records = []
    for point, rows in columns.groupby(POINT):
        by_key = {key: g.set_index("seed")["value"] for key, g in rows.groupby(["model", "column"])}
        for a, b in comparisons(rows["model"]):
            for column in SUMMARY_COLUMNS:
                if (a, column) in by_key and (b, column) in by_key:
                    records.append(
                        dict(zip(POINT, point, strict=True))
                        | {"a": a, "b": b, "column": column}
                        | interval_row(by_key[(a, column)], by_key[(b, column)])
                    )
    return pd.DataFrame(records, columns=[*POINT, "a", "b", "column", *INTERVAL])


def study_dynamics(
    points: Mapping[str, Mapping[str, float]], histories: Iterable[str | Path]
) -> pd.DataFrame:
    """MIAM's state over training, tidy: per point, model, seed, epoch and modality, its r_m,
    E[p_m], d_m, the floor on d_m and whether d_m is above it (NaN before d exists).

    histories: history.csv files of results/<dataset>/train/<model>/seed<seed>/; the runs that
    logged no r (the strategies other than MIAM) are left out.
    """
    frames = []
    for path in map(Path, histories):
        history = pd.read_csv(path)
        if not any(c.startswith("r.") for c in history.columns):
            continue
        model, seed = path.parents[1].name, int(path.parent.name.removeprefix("seed"))
        modalities = [c.removeprefix("r.") for c in history.columns if c.startswith("r.")]
        for modality in modalities:
            d, floor = history[f"d.{modality}"], history[f"d_floor.{modality}"]
            frames.append(
                pd.DataFrame(
                    {
                        "dataset": path.parents[3].name,
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
    dynamics = pd.concat(frames, ignore_index=True).merge(points_frame(points), on="dataset")
    return dynamics[[*POINT, *[c for c in dynamics.columns if c not in POINT]]]


def dynamics_summary(dynamics: pd.DataFrame) -> pd.DataFrame:
    """Per point, model and modality, means over seeds: r_m and E[p_m] at the last epoch, the
    largest |E[p_m] - 0.5| over training (how far MIAM moved from the Beta hypercube), and the
    share of epochs whose d_m is above its floor (in the first and the second half of
    training) and whose lam |log r_m| is clipped (second half)."""
    frame = dynamics.assign(
        moved=(dynamics["expected_p"] - 0.5).abs(),
        late=dynamics["epoch"] > dynamics["epochs"] / 2,
    )
    keys = [*POINT, "model", "modality"]
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
    # In the order of the dynamics (config order of the runs), not sorted by name.
    order = pd.MultiIndex.from_frame(frame[keys].drop_duplicates())
    return summary.reindex(order).reset_index()


TABLES = ("scores", "gaps", "differences", "dynamics", "dynamics_summary")


def write_study(
    points: Mapping[str, Mapping[str, float]],
    evaluations: Iterable[str | Path],
    histories: Iterable[str | Path],
    subsets: Sequence[str],
    weak_subsets: Sequence[str],
    folder: str | Path,
) -> list[Path]:
    """Write `<table>.csv` for each of TABLES and `finding.md` into `folder`."""
    scores = study_scores(points, evaluations)
    dynamics = study_dynamics(points, histories)
    tables = {
        "scores": scores,
        "gaps": oracle_gaps(scores, subsets, weak_subsets),
        "differences": differences(scores, subsets, weak_subsets),
        "dynamics": dynamics,
        "dynamics_summary": dynamics_summary(dynamics),
    }
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in TABLES:
        paths.append(folder / f"{name}.csv")
        tables[name].to_csv(paths[-1], index=False)
    paths.append(folder / "finding.md")
    text = finding(tables["gaps"], tables["differences"], tables["dynamics_summary"])
    paths[-1].write_text(text + "\n", encoding="utf-8")
    return paths


# The finding: a paragraph written from the tables. -------------------------------------------


def _interval(row) -> str:
    if not math.isfinite(row["low"]):
        return f"{row['mean']:+.1f} pp"
    return f"{row['mean']:+.1f} pp [{row['low']:+.1f}, {row['high']:+.1f}]"


def _budget_label(point) -> str:
    data = f", {point['data']:g}x data" if point["data"] != 1 else ""
    return f"x{point['budget']:g}{data}"


def _points_in_order(frame: pd.DataFrame) -> list[dict]:
    return (
        frame[["budget", "data"]]
        .drop_duplicates()
        .sort_values(["data", "budget"])
        .to_dict("records")
    )


def _pick(frame: pd.DataFrame, point: dict, **where) -> pd.Series | None:
    chosen = frame[(frame["budget"] == point["budget"]) & (frame["data"] == point["data"])]
    for key, value in where.items():
        chosen = chosen[chosen[key] == value]
    return None if chosen.empty else chosen.iloc[0]


def _verdict(row) -> str:
    if not math.isfinite(row["low"]):
        return "no interval"
    if row["low"] > 0:
        return "a gain"
    if row["high"] < 0:
        return "a loss"
    return "no clear difference"


def finding(gaps: pd.DataFrame, diffs: pd.DataFrame, summary: pd.DataFrame) -> str:
    """One paragraph: does the oracle gap close with budget, does lambda > 1 make the imbalance
    term act, and does acting help the weak subsets at a cost on `all`. Every number is read
    from the tables passed in."""
    demo_data = gaps[gaps["data"] == 1]
    budgets = _points_in_order(demo_data)
    sentences = []

    gap_text = []
    for model in ("uniform", "beta_hypercube", "miam"):
        parts = [
            f"{_budget_label(p)} {_interval(row)}"
            for p in budgets
            if (row := _pick(demo_data, p, model=model, column=WEAK_MEAN)) is not None
        ]
        if parts:
            gap_text.append(f"{model} {', '.join(parts)}")
    if gap_text:
        first, last = budgets[0], budgets[-1]
        start = _pick(demo_data, first, model="miam", column=WEAK_MEAN)
        end = _pick(demo_data, last, model="miam", column=WEAK_MEAN)
        trend = ""
        if start is not None and end is not None and first != last:
            change = end["mean"] - start["mean"]
            trend = (
                f" MIAM's gap {'narrows' if change < 0 else 'widens'} by {abs(change):.1f} pp "
                f"from {_budget_label(first)} to {_budget_label(last)}"
                + (
                    ", and it is still above 0 at the largest budget."
                    if math.isfinite(end["low"]) and end["low"] > 0
                    else "."
                )
            )
        sentences.append(
            "Gap to the oracle on the weak subsets (oracle - model, mean of the weak subsets, "
            f"test): {'; '.join(gap_text)}.{trend}"
        )

    acting = summary[summary["model"].str.startswith("miam[lam=")]
    if not acting.empty:
        acting = acting.assign(last_shift=(acting["expected_p_last"] - 0.5).abs())
        by_model = acting.groupby(["budget", "data", "model"], sort=False)
        shifts = by_model[["max_p_shift", "last_shift"]].max().reset_index()
        parts = []
        for p in _points_in_order(shifts):
            at = shifts[(shifts["budget"] == p["budget"]) & (shifts["data"] == p["data"])]
            parts.append(
                f"{_budget_label(p)}: "
                + ", ".join(
                    f"{row.model.removeprefix('miam')} {row.max_p_shift:.2f} / {row.last_shift:.2f}"
                    for row in at.itertuples()
                )
            )
        clipped = acting.groupby(["budget", "data", "model"], sort=False)["clipped_late"].max()
        clip_text = ", ".join(
            f"{_budget_label(dict(zip(['budget', 'data'], key[:2], strict=True)))} "
            f"{key[2].removeprefix('miam')} {100 * share:.0f} %"
            for key, share in clipped.items()
            if share > 0
        )
        late = acting.groupby(["budget", "data"])["above_floor_late"].mean().reset_index()
        floor_text = ", ".join(
            f"{_budget_label(row)} {100 * row['above_floor_late']:.0f} %"
            for row in late.sort_values(["data", "budget"]).to_dict("records")
        )
        sentences.append(
            "How far the imbalance term moves MIAM from the Beta hypercube (|E[p_m] - 0.5| of "
            "the modality it moves most, mean over seeds: largest over training / at the end): "
            f"{'; '.join(parts)}. "
            f"In the second half of training d_m is above its floor in {floor_text} of epochs"
            + (
                f"; the clip on lam |log r_m| holds the most-clipped modality in {clip_text} "
                "of those epochs."
                if clip_text
                else "; the clip on lam |log r_m| never acts."
            )
        )

    # What acting does: each lambda > 0 against the Beta hypercube, the same masking without
    # the imbalance term (lambda = 0), on the weak subsets and on all inputs.
    for p in _points_in_order(diffs):
        parts = []
        for model in dict.fromkeys(m for m in diffs["a"] if m.startswith("miam[lam=")):
            weak = _pick(diffs, p, a=model, b="beta_hypercube", column=WEAK_MEAN)
            full = _pick(diffs, p, a=model, b="beta_hypercube", column="all")
            if weak is None or full is None or (weak["mean"] == 0 and weak["low"] == 0):
                continue  # lambda = 0 is the Beta hypercube itself
            parts.append(
                f"{model.removeprefix('miam')} weak {_interval(weak)} ({_verdict(weak)}), "
                f"all {_interval(full)} ({_verdict(full)})"
            )
        if parts:
            sentences.append(f"MIAM - Beta hypercube at {_budget_label(p)}: {'; '.join(parts)}.")

    selected = diffs[(diffs["a"] == "miam") & (diffs["column"] == AVERAGE)]
    if not selected.empty:
        parts = [
            f"{_budget_label(row)} vs {row['b']} {_interval(row)}"
            for row in selected.sort_values(["data", "budget", "b"]).to_dict("records")
        ]
        sentences.append("MIAM with lambda chosen on validation, on avg: " + "; ".join(parts) + ".")
    return " ".join(sentences)
