"""The study (config/study.yaml, docs/study.md): its tables from planted runs, its plan, and one
tiny point end to end. The full study never runs here (about 30 minutes on 2 cores)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from miam.analysis import study
from miam.analysis.claims import WEAK_MEAN
from tests.test_workflow import copy_repo, dry_run, snakemake

SUBSETS = ["tab", "sat", "all"]
WEAK = ["sat"]
POINTS = {"toy-x1": {"budget": 1, "data": 1}, "toy-x4": {"budget": 4, "data": 1}}
# Test scores (%) per point and model on tab, sat, all for seed 0; seed s adds s to every one.
PLANTED = {
    "toy-x1": {"uniform": [80, 60, 85], "miam": [80, 62, 84], "oracle": [82, 70, 86]},
    "toy-x4": {"uniform": [81, 64, 86], "miam": [81, 67, 85], "oracle": [82, 70, 87]},
}


def evaluation_files(folder: Path) -> list[Path]:
    paths = []
    for dataset, models in PLANTED.items():
        for model, values in models.items():
            records = [
                {
                    "dataset": dataset,
                    "model": model,
                    "seed": seed,
                    "split": split,
                    "family": "named",
                    "subset": subset,
                    "metric": "auroc",
                    "value": (value + seed) / 100,
                }
                for seed in range(3)
                for split in ("val", "test")
                for subset, value in zip(SUBSETS, values, strict=True)
                if model != "oracle" or subset in ("sat", "all")  # oracles of sat and all only
            ]
            paths.append(folder / f"{dataset}-{model}.csv")
            pd.DataFrame(records).to_csv(paths[-1], index=False)
    return paths


def test_gaps_and_differences_are_paired_over_seeds(tmp_path):
    scores = study.study_scores(POINTS, evaluation_files(tmp_path))
    assert set(scores["budget"]) == {1, 4} and set(scores["split"]) == {"val", "test"}
    gaps = study.oracle_gaps(scores, SUBSETS, WEAK)
    # Only the subsets with an oracle: sat (= the weak mean here) and all.
    assert set(gaps["column"]) == {"sat", "all", WEAK_MEAN}
    miam_weak = gaps[(gaps["model"] == "miam") & (gaps["column"] == WEAK_MEAN)]
    assert miam_weak.set_index("budget")["mean"].to_dict() == pytest.approx({1: 8.0, 4: 3.0})
    # The same difference on every seed: no spread, so the interval is the point.
    assert miam_weak["low"].tolist() == pytest.approx(miam_weak["mean"].tolist())
    diffs = study.differences(scores, SUBSETS, WEAK)
    at_x4 = diffs[(diffs["budget"] == 4) & (diffs["a"] == "miam") & (diffs["b"] == "uniform")]
    assert at_x4.set_index("column")["mean"].to_dict() == pytest.approx(
        {"avg": (0 + 3 - 1) / 3, WEAK_MEAN: 3.0, "all": -1.0}
    )


def test_comparisons_pair_every_miam_row_with_the_baselines_and_each_option():
    models = ["uniform", "uniform_per_batch", "beta_hypercube", "miam", "miam[lam=1]"]
    assert study.comparisons([*models, "miam_eps_floor"]) == [
        ("miam", "uniform"),
        ("miam", "beta_hypercube"),
        ("miam[lam=1]", "uniform"),
        ("miam[lam=1]", "beta_hypercube"),
        ("uniform_per_batch", "uniform"),
        ("miam_eps_floor", "miam[lam=1]"),
    ]


def history(path: Path, d: list[float], floor: float, expected_p: list[float]) -> Path:
    path.parent.mkdir(parents=True)
    pd.DataFrame(
        {
            "epoch": range(1, len(d) + 1),
            "r.sat": [1.0] * len(d),
            "expected_p.sat": expected_p,
            "d.sat": d,
            "d_floor.sat": [floor] * len(d),
            "clipped.sat": [0.0] * (len(d) - 1) + [1.0],
        }
    ).to_csv(path, index=False)
    return path


def test_dynamics_say_when_d_is_above_its_floor_and_how_far_p_moves(tmp_path):
    run = tmp_path / "results" / "toy-x1" / "train" / "miam[lam=3]" / "seed0" / "history.csv"
    other = tmp_path / "results" / "toy-x1" / "train" / "uniform" / "seed0" / "history.csv"
    paths = [
        history(run, [math.nan, 0.05, 0.02, 0.005], 0.01, [0.5, 0.55, 0.6, 0.45]),
        history(other, [1.0] * 4, 0.0, [0.5] * 4),
    ]
    pd.read_csv(other).drop(columns=["r.sat"]).to_csv(other, index=False)  # no r: not MIAM
    dynamics = study.study_dynamics(POINTS, paths)
    assert set(dynamics["model"]) == {"miam[lam=3]"}
    summary = study.dynamics_summary(dynamics).iloc[0]
    assert summary["above_floor_early"] == 1.0  # epoch 2 (epoch 1 has no d yet)
    assert summary["above_floor_late"] == 0.5  # epochs 3 and 4
    assert summary["max_p_shift"] == pytest.approx(0.1)
    assert summary["expected_p_last"] == pytest.approx(0.45)
    assert summary["clipped_late"] == 0.5  # clipped in epoch 4 of the late 3 and 4


def test_the_finding_is_written_from_the_tables(tmp_path):
    scores = study.study_scores(POINTS, evaluation_files(tmp_path))
    gaps = study.oracle_gaps(scores, SUBSETS, WEAK)
    diffs = study.differences(scores, SUBSETS, WEAK)
    text = study.finding(gaps, diffs, pd.DataFrame(columns=["model"]))
    assert "miam x1 +8.0 pp [+8.0, +8.0], x4 +3.0 pp" in text
    assert "MIAM's gap narrows by 5.0 pp from x1 to x4" in text


def test_the_study_plans_every_point_with_its_strategies():
    jobs = dry_run("config/study.yaml", "--nolock", "study")
    config = yaml.safe_load(Path("config/study.yaml").read_text())
    rules = {job.rule for job in jobs}
    assert {"study_tables", "study_notebook", "select_variant"} <= rules
    for point in config["study"]["geoplant"]:
        trained = " ".join(
            job.output for job in jobs if job.rule.startswith(f"train_{point.replace('-', '_')}_")
        )
        assert f"results/{point}/train/miam[lam=3]/seed2/model.pt" in trained
        assert f"results/{point}/oracle/all/seed2/model.pt" in trained
        costly = "strategies" in config["datasets"][point]
        assert ("miam[lam=10]" in trained) != costly, point
        assert ("uniform_hypercube" in trained) != costly, point


@pytest.mark.workflow
def test_one_tiny_point_runs_end_to_end(tmp_path):
    """One point of the study at tiny scale (1 epoch, 2 seeds, every option but few lambdas):
    the study's tables, finding and notebook."""
    workdir = copy_repo(tmp_path / "repo")
    config = yaml.safe_load((workdir / "config" / "study.yaml").read_text())
    point = config["datasets"]["study-geoplant-x1"]
    point["source"]["scale"] = "tiny"
    point["reader_options"]["min_occurrences"] = 6
    point["strategies"] = [
        *["uniform", "uniform_per_batch", "beta_hypercube", "miam[lam=0]", "miam[lam=3]"],
        *["miam[lam=1]", "miam_above_chance", "miam_eps_floor"],
    ]
    config["datasets"] = {"tiny-study": point}
    config["study"] = {"tiny": {"tiny-study": {"budget": 1, "data": 1}}}
    config["seeds"] = [0, 1]
    config["training"]["epochs"] = 2
    (workdir / "config" / "tiny-study.yaml").write_text(yaml.safe_dump(config))
    snakemake(workdir, "study", "--configfile", "config/tiny-study.yaml")
    folder = workdir / "results" / "study" / "tiny"
    diffs = pd.read_csv(folder / "differences.csv")
    assert {"miam", "miam[lam=3]", "uniform_per_batch", "miam_above_chance"} <= set(diffs["a"])
    chosen = pd.read_csv(folder / "scores.csv").query("model == 'miam'")["variant"]
    assert set(chosen) <= {"miam[lam=0]", "miam[lam=1]", "miam[lam=3]"}
    assert (folder / "finding.md").read_text().strip()
    assert "<img" in (folder / "study.html").read_text()
    claims = pd.read_csv(workdir / "results" / "tiny-study" / "tables" / "claims.csv")
    assert claims["chosen"].str.contains(r"miam = miam\[lam=", regex=True).any()
