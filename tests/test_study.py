"""The decisive study (config/study.yaml, docs/study.md): its verdicts from planted runs, the
pre-registered rule checked on every verdicts.csv, its plan, and one tiny point end to end. The
full study never runs here."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

from miam.analysis import study
from miam.analysis.claims import WEAK_MEAN
from tests.test_workflow import copy_repo, dry_run, snakemake

REPO = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((REPO / "config" / "study.yaml").read_text())
PREREGISTRATION = CONFIG["study"]["decisive"]["preregistration"]
SUBSETS = ["tabular", "satellite", "all"]
BENCHMARKS = {"toy": {"subsets": SUBSETS, "weak_subsets": ["satellite"], "all_inputs": "all"}}
POINTS = {"toy-arms": "toy", "toy-oracles": "toy"}
# Test scores (%) on tabular, satellite, all for seed 0, per dataset and model; seed s adds
# +-`step` * s to satellite (+-0.1 * s to the rest), so the paired differences have a spread.
PLANTED = {
    "toy-arms": {
        "beta_hypercube": ([80, 60, 85], 0.0),
        "favour_weak_x5": ([80, 63, 85], 0.1),
        "favour_strong_x5": ([80, 55, 85], 0.0),
        "miam_paper_lam1": ([80, 60.2, 85], 0.1),
    },
    "toy-oracles": {"uniform": ([79, 57, 84], 0.0), "oracle": ([82, 70, 86], 2.0)},
}


def wobble(step: float, seed: int) -> float:
    """+-step * seed, alternating in sign: a spread across seeds with a small mean."""
    return step * seed * (-1) ** seed


def evaluation_files(folder: Path, planted=PLANTED, seeds=range(10)) -> list[Path]:
    paths = []
    for dataset, models in planted.items():
        for model, (values, step) in models.items():
            records = [
                {
                    "dataset": dataset,
                    "model": model,
                    "seed": seed,
                    "split": split,
                    "family": "named",
                    "subset": subset,
                    "metric": "auroc",
                    "value": (value + wobble(step if subset == "satellite" else 0.1, seed)) / 100,
                }
                for seed in (range(3) if dataset == "toy-oracles" else seeds)
                for split in ("val", "test")
                for subset, value in zip(SUBSETS, values, strict=True)
            ]
            paths.append(folder / f"{dataset}-{model}.csv")
            pd.DataFrame(records).to_csv(paths[-1], index=False)
    return paths


def planted_verdicts(folder: Path, planted=PLANTED) -> pd.DataFrame:
    scores = study.study_scores(POINTS, evaluation_files(folder, planted))
    return study.verdicts(study.per_seed_columns(scores, BENCHMARKS), PREREGISTRATION)


def assert_verdicts_follow_the_rule(verdicts: pd.DataFrame, preregistration) -> None:
    """Every verdict word follows from low, high and margin by the pre-registered rule (written
    out again here, not study.row_verdict), and MIAM's rows are `cannot be tested here` exactly
    where no positive control showed headroom."""
    for benchmark, rows in verdicts.groupby("dataset"):
        control = rows[(rows["question"] == study.POSITIVE) & (rows["subset"] == WEAK_MEAN)]
        headroom = ((control["low"] > 0) & (control["mean"] >= preregistration["headroom"])).any()
        for row in rows.itertuples():
            # The gap to the oracle is about its margin: beyond it, or inside it.
            beyond = row.margin if row.question == "gap to the oracle" else 0.0
            if row.question == study.MIAM_QUESTION and not headroom:
                expected = "cannot be tested here"
            elif not (math.isfinite(row.low) and math.isfinite(row.high)):
                expected = "inconclusive"
            elif row.low > beyond:
                expected = "beats"
            elif row.high < -beyond:
                expected = "worse"
            elif -row.margin <= row.low and row.high <= row.margin:
                expected = "equivalent"
            else:
                expected = "inconclusive"
            assert row.verdict == expected, (benchmark, row.comparison, row.subset)
            gap = row.question == "gap to the oracle"
            margin = preregistration["gap_margin" if gap else "margin"]
            assert row.margin == margin and row.planned_half_width == margin / 2
            assert row.powered == (row.half_width <= row.planned_half_width)


def test_verdicts_pair_the_benchmarks_datasets_by_seed(tmp_path):
    verdicts = planted_verdicts(tmp_path)
    assert list(verdicts.columns) == study.VERDICT_COLUMNS
    rows = verdicts.set_index(["comparison", "subset"])
    # The oracles (3 seeds, toy-oracles) pair with the arms' seeds 0-2 (toy-arms, 10 seeds).
    gap = rows.loc[("oracle - miam_paper_lam1", "all inputs")]
    assert gap["n_seeds"] == 3 and gap["mean"] == pytest.approx(1.0)
    control = rows.loc[("favour_weak_x5 - beta_hypercube", WEAK_MEAN)]
    assert control["n_seeds"] == 10 and control["mean"] > PREREGISTRATION["headroom"]
    assert control["verdict"] == "beats"
    assert rows.loc[("favour_strong_x5 - beta_hypercube", WEAK_MEAN), "verdict"] == "worse"
    # MIAM's +0.2 on satellite with a small spread: inside ±delta, and testable (the control beat).
    miam = rows.loc[("miam_paper_lam1 - beta_hypercube", "satellite")]
    assert miam["verdict"] == "equivalent" and miam["testable"]
    assert_verdicts_follow_the_rule(verdicts, PREREGISTRATION)


def test_without_headroom_miam_cannot_be_tested_here(tmp_path):
    flat = {**PLANTED, "toy-arms": {**PLANTED["toy-arms"], "favour_weak_x5": ([80, 60, 85], 0.1)}}
    flat["toy-arms"]["favour_weak_x25"] = ([80, 60.5, 85], 0.1)
    verdicts = planted_verdicts(tmp_path, flat)
    miam = verdicts[verdicts["question"] == study.MIAM_QUESTION]
    assert set(miam["verdict"]) == {"cannot be tested here"} and not miam["testable"].any()
    assert_verdicts_follow_the_rule(verdicts, PREREGISTRATION)
    text = study.finding(verdicts, PREREGISTRATION)
    assert "so this benchmark cannot reveal a modality-level push" in text
    assert text.startswith("### MIAM against the Beta hypercube, the decisive study: toy cannot")


def test_the_finding_leads_with_the_positive_control_and_marks_underpowered_rows(tmp_path):
    verdicts = planted_verdicts(tmp_path)
    text = study.finding(verdicts, PREREGISTRATION)
    body = text.split("**toy**\n\n", 1)[1]
    assert body.startswith("- Positive control: the Beta hypercube pushed x5 toward the weak")
    assert body.index("Positive control") < body.index("MIAM as the paper states it (lambda 1)")
    assert "is equivalent to the Beta hypercube within ±1 pp" in text
    # One sentence per question: the control, the negative control, MIAM, the ladder, the gap.
    assert body.split("\n\n")[0].count("\n- ") == len(study.QUESTIONS) - 1
    assert "pushed x25" not in text  # its row is in the table, not a sentence
    # The gap rows have 3 seeds: a half-width far above the planned 1 pp.
    assert "*underpowered*: planned 1.00" in text
    # Every number in the text is one of the table's, as written by format_interval.
    for row in verdicts[verdicts["subset"] == WEAK_MEAN].itertuples():
        if row.question in (study.POSITIVE, study.NEGATIVE):
            assert study.format_interval(row._asdict()) in text


def test_the_schema_lists_the_questions_in_report_order():
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    study_entry = schema["properties"]["study"]["additionalProperties"]["properties"]
    comparison = study_entry["preregistration"]["properties"]["comparisons"]["items"]
    assert comparison["properties"]["question"]["enum"] == list(study.QUESTIONS)


def test_a_preregistration_naming_an_untrained_model_fails_before_the_run():
    from miam.workflow import pipeline

    config = yaml.safe_load((REPO / "config" / "study.yaml").read_text())
    pipeline.check_config(config)  # the study as registered
    comparisons = config["study"]["decisive"]["preregistration"]["comparisons"]
    comparisons.append({"question": "the ladder", "a": "miam_paper_lam2", "b": "uniform"})
    with pytest.raises(ValueError, match=r"miam_paper_lam2.*trained by no point"):
        pipeline.check_config(config)
    comparisons.pop()
    config["study"]["decisive"]["preregistration"]["columns"].append("image")
    with pytest.raises(ValueError, match="'image' is not a subset of every point"):
        pipeline.check_config(config)


def test_the_pages_quote_the_preregistration():
    text = study.preregistration_text(PREREGISTRATION)
    assert f"delta = {PREREGISTRATION['margin']:g} pp" in text
    assert f"Registered {PREREGISTRATION['registered']}" in text
    for comparison in PREREGISTRATION["comparisons"]:
        assert f"{comparison['a']} - {comparison['b']}" in text


def test_docs_quote_the_registered_preregistration():
    page = (REPO / "docs" / "study.md").read_text()
    block = page.split(study.PREREGISTRATION_BEGIN, 1)[1].split(study.PREREGISTRATION_END, 1)[0]
    assert block.strip() == study.preregistration_text(PREREGISTRATION).strip()


def test_planning_sd_is_the_pilots_and_the_seeds_meet_the_floor():
    pilot = pd.read_csv(REPO / PREREGISTRATION["pilot"])
    assert PREREGISTRATION["planning_sd"] == pytest.approx(study.pilot_sd(pilot), abs=0.005)
    # The primary comparison (pooled over a benchmark's datasets, paired by seed) has the seeds
    # delta / 2 needs; every other arm at least 10 (the pages call those rows underpowered).
    needed = study.seeds_needed(PREREGISTRATION["planning_sd"], PREREGISTRATION["margin"] / 2)
    arms = [d for d in CONFIG["datasets"].values() if "miam_paper_lam1" in d["strategies"]]
    assert all(len(d["seeds"]) >= 10 for d in arms)
    points = CONFIG["study"]["decisive"]["points"]
    primary = PREREGISTRATION["primary"]
    for benchmark in set(points.values()):
        datasets = [CONFIG["datasets"][name] for name, b in points.items() if b == benchmark]
        seeds = [
            set(d["seeds"]) for d in datasets if {primary, "beta_hypercube"} <= set(d["strategies"])
        ]
        assert len(set().union(*seeds)) >= needed, benchmark


def test_half_width_matches_the_reference_values():
    # REFERENCE.md: sd 1.5 pp gives 3.7 pp at n = 3, 1.1 pp at n = 10, 0.56 pp at n = 30.
    assert study.half_width(1.5, 3) == pytest.approx(3.73, abs=0.01)
    assert study.half_width(1.5, 10) == pytest.approx(1.07, abs=0.01)
    assert study.half_width(1.5, 30) == pytest.approx(0.56, abs=0.01)


@pytest.mark.parametrize("path", sorted((REPO / "docs" / "figures" / "study").glob("verdicts.csv")))
def test_the_published_verdicts_follow_the_rule(path):
    verdicts = pd.read_csv(path)
    assert_verdicts_follow_the_rule(verdicts, PREREGISTRATION)
    miam = verdicts[verdicts["question"] == study.MIAM_QUESTION]
    assert (miam["n_seeds"] >= 10).all()


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
    run = tmp_path / "results" / "toy-arms" / "train" / "miam_paper_lam3" / "seed0" / "history.csv"
    other = tmp_path / "results" / "toy-arms" / "train" / "uniform" / "seed0" / "history.csv"
    paths = [
        history(run, [math.nan, 0.05, 0.02, 0.005], 0.01, [0.5, 0.55, 0.6, 0.45]),
        history(other, [1.0] * 4, 0.0, [0.5] * 4),
    ]
    pd.read_csv(other).drop(columns=["r.sat"]).to_csv(other, index=False)  # no r: not MIAM
    dynamics = study.study_dynamics(POINTS, paths)
    assert set(dynamics["model"]) == {"miam_paper_lam3"} and set(dynamics["benchmark"]) == {"toy"}
    summary = study.dynamics_summary(dynamics).iloc[0]
    assert summary["above_floor_early"] == 1.0  # epoch 2 (epoch 1 has no d yet)
    assert summary["above_floor_late"] == 0.5  # epochs 3 and 4
    assert summary["max_p_shift"] == pytest.approx(0.1)
    assert summary["clipped_late"] == 0.5


def test_publish_replaces_the_generated_blocks(tmp_path):
    folder = tmp_path / "study"
    (folder / "figures").mkdir(parents=True)
    for name in ("verdicts.csv", "dynamics_summary.csv"):
        (folder / name).write_text("a\n1\n")
    (folder / "figures" / "forest.png").write_bytes(b"png")
    (folder / "finding.md").write_text("### The heading\n\nThe sentence.\n")
    (folder / "preregistration.md").write_text("Registered today.\n")
    (folder / "verdicts.md").write_text("| the cited rows |\n")
    readme, page = tmp_path / "README.md", tmp_path / "study.md"
    readme.write_text(f"intro\n{study.BEGIN}\nold\n{study.END}\nrest\n")
    page.write_text(
        f"{study.BEGIN}\nold\n{study.END}\n"
        f"{study.PREREGISTRATION_BEGIN}\nold\n{study.PREREGISTRATION_END}\n"
    )
    study.publish(folder, readme, page, tmp_path / "figures")
    text = readme.read_text()
    assert text.startswith(f"intro\n{study.BEGIN}\n### The heading\n\nThe sentence.\n")
    assert text.endswith(f"{study.END}\nrest\n") and "old" not in text
    # Links relative to each page.
    assert "](figures/forest.png)" in text and "](figures/verdicts.csv)" in text
    assert "Registered today." in page.read_text() and "old" not in page.read_text()
    assert "| the cited rows |" in page.read_text() and "cited rows" not in text
    assert (tmp_path / "figures" / "forest.png").read_bytes() == b"png"


def test_the_study_plans_every_arm_and_every_oracle():
    jobs = dry_run("config/study.yaml", "--nolock", "study")
    rules = {job.rule for job in jobs}
    assert {"study_tables", "study_notebook"} <= rules
    trained = " ".join(job.output for job in jobs if job.rule.startswith("train_"))
    for name, dataset in CONFIG["datasets"].items():
        last = dataset["seeds"][-1]
        for strategy in dataset["strategies"]:
            assert f"results/{name}/train/{strategy}/seed{last}/model.pt" in trained
        assert f"results/{name}/train/{dataset['strategies'][0]}/seed{last + 1}/" not in trained
    oracles = CONFIG["datasets"]["study-geoplant-oracles"]
    for subset in oracles["subsets"]:
        assert f"results/study-geoplant-oracles/oracle/{subset}/seed2/model.pt" in trained
    assert "results/study-taxabench-oracles/oracle/image+audio/seed2/model.pt" in trained


@pytest.mark.workflow
def test_one_tiny_point_runs_end_to_end(tmp_path):
    """A tiny benchmark of the study (2 epochs, 2 seeds, three arms, two oracles): its tables,
    verdicts by the rule, finding, notebook and published pages."""
    workdir = copy_repo(tmp_path / "repo")
    config = yaml.safe_load((workdir / "config" / "study.yaml").read_text())
    arms = config["datasets"]["study-geoplant"]
    arms["source"]["scale"] = "tiny"
    arms["reader_options"]["min_occurrences"] = 6
    arms["training"]["epochs"] = 2
    arms["strategies"] = ["beta_hypercube", "miam_paper_lam1", "favour_weak_x5"]
    arms["seeds"] = [0, 1]
    oracles = {**arms, "strategies": ["uniform"], "oracles": ["satellite", "all"]}
    config["datasets"] = {"tiny-arms": arms, "tiny-oracles": oracles}
    config["study"]["tiny"] = config["study"].pop("decisive")
    config["study"]["tiny"]["points"] = {"tiny-arms": "tiny", "tiny-oracles": "tiny"}
    # Only the comparisons of the models the tiny study trains (the check refuses others).
    trained = {*arms["strategies"], "uniform", "oracle"}
    registered = config["study"]["tiny"]["preregistration"]
    registered["comparisons"] = [
        c for c in registered["comparisons"] if {c["a"], c["b"]} <= trained
    ]
    (workdir / "config" / "tiny-study.yaml").write_text(yaml.safe_dump(config))
    snakemake(workdir, "study", "--configfile", "config/tiny-study.yaml")
    folder = workdir / "results" / "study" / "tiny"
    verdicts = pd.read_csv(folder / "verdicts.csv")
    assert set(verdicts["comparison"]) >= {
        "favour_weak_x5 - beta_hypercube",
        "miam_paper_lam1 - beta_hypercube",
        "oracle - miam_paper_lam1",
    }
    assert_verdicts_follow_the_rule(verdicts, config["study"]["tiny"]["preregistration"])
    assert (folder / "finding.md").read_text().startswith("### MIAM against the Beta hypercube")
    assert "<img" in (folder / "study.html").read_text()
    readme, page = workdir / "README.md", workdir / "docs" / "study.md"
    study.publish(folder, readme, page, workdir / "docs" / "figures" / "study")
    assert (folder / "finding.md").read_text().strip() in readme.read_text()


def test_each_benchmark_is_read_on_its_own_metric(tmp_path):
    """A top-1 benchmark beside an AUROC one keeps its rows (its metric is its own)."""
    auroc = evaluation_files(tmp_path)
    top1 = []
    for path in auroc:
        frame = pd.read_csv(path)
        frame["dataset"] = frame["dataset"].str.replace("toy", "taxa")
        frame["metric"] = "top1"
        top1.append(tmp_path / f"taxa-{path.name}")
        frame.to_csv(top1[-1], index=False)
    points = {**POINTS, "taxa-arms": "taxa", "taxa-oracles": "taxa"}
    scores = study.study_scores(points, [*auroc, *top1])
    assert set(scores.groupby("benchmark")["metric"].first().items()) == {
        ("toy", "auroc"),
        ("taxa", "top1"),
    }
    with pytest.raises(ValueError, match="no evaluation rows of the study's points"):
        study.study_scores({**points, "missing": "taxa"}, [*auroc, *top1])


def test_the_gap_to_the_oracle_is_decided_against_its_margin():
    margin = PREREGISTRATION["gap_margin"]
    gap = study.threshold("gap to the oracle", margin)
    assert study.row_verdict(0.4, 1.8, margin, gap) == "equivalent"  # the oracle ahead, < 2 pp
    assert study.row_verdict(2.1, 3.0, margin, gap) == "beats"  # by more than the margin
    assert study.row_verdict(0.4, 2.5, margin, gap) == "inconclusive"
    assert study.row_verdict(0.4, 2.5, 1.0) == "beats"  # any other row: above 0


def test_a_small_win_says_it_is_smaller_than_delta(tmp_path):
    small = {**PLANTED, "toy-arms": {**PLANTED["toy-arms"]}}
    small["toy-arms"]["miam_paper_lam1"] = ([80.3, 60.3, 85.3], 0.0)  # +0.3 everywhere, no spread
    verdicts = planted_verdicts(tmp_path, small)
    text = study.finding(verdicts, PREREGISTRATION)
    assert text.startswith(
        "### MIAM against the Beta hypercube, the decisive study: toy MIAM beats it, by less "
        "than 1 pp"
    )
    assert "beats the Beta hypercube, by less than 1 pp: weak mean +0.30 pp" in text
    table = study.verdicts_markdown(verdicts)
    assert table.count("\n") == 2 + int(verdicts["cited"].sum())


def test_the_cost_is_summed_from_the_jobs_benchmark_files(tmp_path):
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    jobs = {"a/benchmarks/train/job0.tsv": (10.0, 9.0), "b/benchmarks/evaluate/seed0.tsv": (4, 3)}
    for i, (name, (wall, cpu)) in enumerate(jobs.items()):
        path = tmp_path / name
        path.parent.mkdir(parents=True)
        path.write_text(header + f"{wall}\t0:00:10\t1\t1\t1\t1\t0\t0\t50\t{cpu}\n")
        os.utime(path, (1000 + 20 * i, 1000 + 20 * i))  # ends at 1000 and 1020
    table, elapsed = study.study_cost(tmp_path, ["a", "b"])
    assert table.loc["total"].tolist() == [2, 14.0, 12.0]
    assert elapsed == pytest.approx(1020 - (1000 - 10))
    text = study.cost_text(table, elapsed, "a test CPU")
    assert "2 jobs" in text and "14 job-seconds" in text and "12 s" in text
    assert "| train | 1 | 10 | 9 |" in text
