"""The workflow as a user runs it: lint, config errors, and one tiny end-to-end run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import rasterio
import screenshot_pages
import yaml
from helpers import target_rules, workflow_rules
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from miam.analysis.map_tables import scenario_losses
from miam.workflow import pipeline

REPO = Path(__file__).resolve().parents[1]
TEST_CONFIG = REPO / "config" / "test.yaml"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def copy_repo(target: Path) -> Path:
    """The workflow files without results, so a run starts from nothing."""
    ignore = shutil.ignore_patterns("results", ".snakemake", ".git", "__pycache__", "*.egg-info")
    shutil.copytree(REPO, target, ignore=ignore)
    return target


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} failed:\n{done.stdout[-4000:]}{done.stderr[-4000:]}"
        )
    return done


def test_lint_is_clean():
    done = snakemake(REPO, "--lint", "--configfile", str(TEST_CONFIG))
    assert "Congratulations" in done.stdout + done.stderr


# How the documents cite rules: rule `a`; rules `a`, `b` and `c`; `a` rule; --until a b.
# A generated name is cited with placeholders: `train_<dataset>_<k>`.
CITED = r"`[\w<>]+`(?:(?:,? (?:and|or) |, )`[\w<>]+`)*"
CITATIONS = [rf"\brules? ({CITED})", rf"({CITED}) rules?\b", r"--until((?: [\w<>]+)+)"]


def cited_rules() -> dict[str, str]:
    """Rule name cited -> the document citing it: the README, docs/, every other Markdown file
    of the repository and the config schema's descriptions."""
    documents = [*REPO.glob("*.md"), *REPO.glob("docs/*.md"), SCHEMA]
    documents += [*REPO.glob("tests/**/*.md"), *REPO.glob("src/**/*.md")]
    cited = {}
    for path in documents:
        for pattern in CITATIONS:
            for found in re.finditer(pattern, path.read_text()):
                names = found.group(1)
                for name in re.findall(r"`([\w<>]+)`", names) or names.split():
                    cited[name] = str(path.relative_to(REPO))
    return cited


def test_documents_cite_only_rules_that_exist():
    rules = set(workflow_rules("config/test.yaml")) | set(workflow_rules("config/config.yaml"))
    cited = cited_rules()
    assert {"tables", "notebook"} <= set(cited)  # the search sees the README's citations
    dead = {
        name: where
        for name, where in cited.items()
        if not any(re.fullmatch(re.sub(r"<\w+>", r"\\w+", name), rule) for rule in rules)
    }
    assert not dead, f"documents name rules the workflow does not have: {dead}"


def edited_config(edit) -> dict:
    config = yaml.safe_load(TEST_CONFIG.read_text())
    edit(config)
    return config


BAD_CONFIGS = [
    (lambda c: c["strategies"].update(typo={"kind": "miamm"}), "miamm"),
    (lambda c: c.update(trainig={"epochs": 1}), "trainig"),
    (lambda c: c["strategies"]["miam"].update(kapa=3.0), "kapa"),
    (
        lambda c: c["datasets"]["tiny-geoplant"]["subsets"].update(bad={"sound": "all"}),
        "sound",
    ),
    (lambda c: c.update(resources={"train": {"mem_gb": 4}}), "mem_gb"),
]
BAD_CONFIG_IDS = [
    "unknown-strategy",
    "misspelled-key",
    "unknown-parameter",
    "missing-modality",
    "unknown-resource",
]


def check_like_the_workflow(config: dict) -> None:
    """What workflow/rules/common.smk runs on the config before planning any job."""
    validate(config, str(SCHEMA))
    pipeline.check_config(config)


@pytest.mark.parametrize(("edit", "named"), BAD_CONFIGS, ids=BAD_CONFIG_IDS)
def test_bad_config_is_refused_naming_the_key(edit, named):
    with pytest.raises((WorkflowError, ValueError), match=named):
        check_like_the_workflow(edited_config(edit))


CONFIG_ERRORS = [
    (
        BAD_CONFIGS[2][0],
        "strategies.miam: unknown option(s) kapa for masking strategy 'miam' "
        "(did you mean `kappa`?)",
    ),
    (BAD_CONFIGS[1][0], "the config: unknown key `trainig` (did you mean `training`?)"),
    (BAD_CONFIGS[0][0], "strategies.typo.kind: 'miamm' is not one of constant, "),
    (
        lambda c: c["datasets"]["tiny-geoplant"]["split"].update(blok_size=2),
        "datasets.tiny-geoplant.split: unknown key `blok_size` (did you mean `block_size`?)",
    ),
]


@pytest.mark.parametrize(("edit", "message"), CONFIG_ERRORS)
def test_a_config_error_is_one_line_naming_the_key_and_the_key_meant(tmp_path, edit, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(edited_config(edit)))
    done = snakemake(REPO, "-n", "--configfile", str(path), check=False)
    console = (done.stdout + done.stderr).splitlines()
    assert done.returncode != 0 and len(console) <= 2, console  # and the profile's line
    assert any(line.startswith(f"Config error: {message}") for line in console), console


def test_no_config_says_how_to_give_one():
    done = snakemake(REPO, "-n", "--workflow-profile", "none", check=False)
    assert done.returncode != 0
    assert (done.stdout + done.stderr).splitlines() == [
        "Config error: the config is empty: name one with --configfile (config/config.yaml is "
        "the demo, config/test.yaml the tiny preset)"
    ]


def test_bad_config_fails_before_any_job(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(edited_config(BAD_CONFIGS[2][0])))
    done = snakemake(REPO, "-n", "--configfile", str(path), check=False)
    assert done.returncode != 0
    assert "kapa" in done.stdout + done.stderr
    assert "rule generate_dataset" not in done.stdout


# --- Plans: dry runs read back -----------------------------------------------------------------


@dataclass
class PlannedJob:
    rule: str
    output: str
    threads: int
    resources: dict[str, str]


def dry_run(configfile: str, *args: str) -> list[PlannedJob]:
    """Every job `snakemake -n` plans from nothing (--forceall: results of earlier runs in the
    repository change nothing), each with the resources it would ask for (printed with
    `jobs.print_details`; by default a job prints one line)."""
    config = yaml.safe_load((REPO / configfile).read_text())
    config.setdefault("jobs", {})["print_details"] = True
    with tempfile.TemporaryDirectory() as folder:
        detailed = Path(folder) / Path(configfile).name
        detailed.write_text(yaml.safe_dump(config))
        done = snakemake(REPO, "-n", "--forceall", "--configfile", str(detailed), *args)
    jobs, job = [], None
    for line in (done.stdout + done.stderr).splitlines():
        if match := re.match(r"^(?:local)?rule (\w+):$", line):
            job = PlannedJob(match[1], "", 1, {})
            jobs.append(job)
        elif job and (match := re.match(r"^    (output|threads|resources): (.*)$", line)):
            if match[1] == "output":
                job.output = match[2]
            elif match[1] == "threads":
                job.threads = int(match[2])
            else:
                job.resources = dict(item.split("=", 1) for item in match[2].split(", "))
        elif not line.startswith("    "):
            job = None
    assert jobs, done.stdout[-2000:]
    return jobs


def rule_names() -> set[str]:
    files = [REPO / "Snakefile", *(REPO / "workflow" / "rules").glob("*.smk")]
    return {name for path in files for name in re.findall(r"^rule (\w+):", path.read_text(), re.M)}


# The plans read: the test config (generated data) and the paper's (downloads), each at
# attempts 1 and 2; the paper's first attempt through the slurm profile, which sizes nothing.
# A strategy with a list-valued parameter (its select_variant rule) in the test config; a string
# parameter, as --config passes list items as strings.
VARIANTS = (
    "--config",
    'strategies={"miam_corners": {"kind": "miam", "corner_weights": ["critical", "uniform"]}}',
)
PLANS = {
    "test": ("config/test.yaml", [(), ("--attempt", "2")]),
    "paper": ("config/paper.yaml", [("--profile", "slurm"), ("--attempt", "2")]),
    # The study's own rules (its target `study`; the attempt flag ends --configfile's list).
    "study": ("config/study.yaml", [("--attempt", "1", "study"), ("--attempt", "2", "study")]),
    "variants": ("config/test.yaml", [VARIANTS, (*VARIANTS, "--attempt", "2")]),
}
# Rules that only gather targets: they run nothing, so they size nothing.
TARGET_RULES = target_rules()


def check_every_rule_asks_for_more_on_a_retry(plans: dict) -> None:
    seen = set()
    for first_plan, second_plan in plans.values():
        first = {(j.rule, j.output): j.resources for j in first_plan}
        second = {(j.rule, j.output): j.resources for j in second_plan}
        assert first.keys() == second.keys()
        for (rule, output), resources in first.items():
            if rule in TARGET_RULES:
                continue
            seen.add(rule)
            for name in ["mem_mb", "runtime"]:
                assert name in resources, f"{rule} ({output}) sets no {name}"
                retried = int(second[rule, output][name])
                assert retried == 2 * int(resources[name]), f"{rule}: {name} on attempt 2"
    # Every rule written out by name was planned (the others are per dataset: train_*, ...);
    # checksum_source, of local sources only, by tests/test_own_data.py's dry run.
    assert rule_names() - TARGET_RULES - {"checksum_source"} <= seen, "rules no dry run planned"


def check_paper_config_plans_on_slurm(cluster: list[PlannedJob], local: list[PlannedJob]) -> None:
    assert Counter(j.rule for j in local) == Counter(j.rule for j in cluster)
    assert not any("gpu" in job.resources for job in local), "a GPU is the profile's to book"
    # The profile: one GPU by default, the CPU partition for the rules it names.
    profile = yaml.safe_load((REPO / "slurm" / "config.yaml").read_text())
    cpu_rules = set(profile["set-resources"])
    assert cpu_rules <= rule_names(), "the profile names a rule the workflow lacks"
    gpu_partition = profile["default-resources"]["slurm_partition"]
    cpu_partition = next(iter(profile["set-resources"].values()))["slurm_partition"]
    for job in cluster:
        if job.rule != "all":
            on_gpu = job.rule not in cpu_rules
            partition = gpu_partition if on_gpu else cpu_partition
            assert job.resources["slurm_partition"] == partition, job.rule
            assert job.resources["gpu"] == ("1" if on_gpu else "0"), job.rule
    # Evaluation (one job per dataset and seed, every model of that seed) runs on a GPU, for
    # the config's time per model.
    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    evaluations = [j for j in cluster if j.rule.startswith("evaluate_")]
    assert len(evaluations) == len(config["datasets"]) * len(config["seeds"])
    assert all(
        int(j.resources["runtime"]) >= config["resources"]["evaluate"]["runtime"]
        for j in evaluations
    )


def test_plans_grow_every_retry_and_place_paper_jobs_on_slurm():
    """One test, so that the four dry runs are made once even with pytest -n."""
    plans = {
        name: [dry_run(config, *args) for args in runs] for name, (config, runs) in PLANS.items()
    }
    check_every_rule_asks_for_more_on_a_retry(plans)
    check_paper_config_plans_on_slurm(*plans["paper"])


@pytest.mark.workflow
def test_tiny_end_to_end_run(tmp_path):
    # CI keeps this run (MIAM_E2E_DIR): the SLURM test (tests/slurm/run_test.sh) compares the
    # results it builds through SLURM with this run's.
    workdir = copy_repo(Path(os.environ.get("MIAM_E2E_DIR") or tmp_path / "repo"))
    done = snakemake(workdir, "--configfile", "config/test.yaml")
    # A console a person can follow: one short line per job, and the pages named at the end.
    console = (done.stdout + done.stderr).splitlines()
    assert max(map(len, console)) <= 300, max(console, key=len)[:400]
    # Every rule has its line (`message`), so no job prints Snakemake's block of details.
    details = [line for line in console if re.match(r"\s+(output|jobid):", line)]
    assert not details, details[:3]
    assert any(line.startswith("Done. Open the pages") for line in console)
    config = yaml.safe_load(TEST_CONFIG.read_text())
    for name, dataset in config["datasets"].items():
        results = workdir / "results" / name
        main = pd.read_csv(results / "tables" / "main_long.csv")
        models = set(main["model"])
        assert set(config["strategies"]) <= models
        assert {"late_fusion", "late_fusion_learned"} <= models
        assert ("oracle" in models) == dataset.get("oracles", True)
        assert set(pipeline.named_subsets(dataset)) | {"avg", "deployment"} <= set(main["subset"])
        markdown = (results / "tables" / "main.md").read_text()
        assert all(strategy in markdown for strategy in config["strategies"])
        for notebook in ["comparison", "ablation", "dynamics", "contributions"]:
            html = (results / "reports" / f"{notebook}.html").read_text()
            assert "<img" in html, f"{name}/{notebook}.html has no figure"
        comparison = (results / "reports" / "comparison.html").read_text()
        assert all(strategy in comparison for strategy in config["strategies"])
        assert (results / "quality" / "summary.json").exists()
        html = (results / "reports" / "maps.html").read_text()
        assert "<img" in html and "planted truth" in html
        grid = results / "predictions" / "grid"
        assert len(pd.read_parquet(grid / "sites.parquet")) > 0
        if "submission" in dataset["predict"]["sites"]["grid"]:
            submitted = pd.read_csv(grid / "submission" / "geolifeclef.csv")
            assert list(submitted.columns) == ["surveyId", "predictions"]
            assert (submitted["predictions"].str.split(" ").map(len) == 5).all()
        for tif in (grid / "maps").glob("*.tif"):
            with rasterio.open(tif) as raster:
                values = raster.read(masked=True)
                assert raster.crs is not None and raster.nodata is not None
                assert all(" / " in band for band in raster.descriptions)
                assert tif.name == "richness.tif" or 0 <= values.min() <= values.max() <= 1
        # The token blocks are temporary: gathered, then deleted.
        assert not [path for path in (results / "shards").rglob("*") if path.is_file()]
    # Finished results: a second run has nothing to do (the deleted blocks included).
    again = snakemake(workdir, "-n", "--configfile", "config/test.yaml")
    assert "Nothing to be done" in again.stdout + again.stderr
    # The report a reader opens: from its first line, every table's verdict on screen.
    snakemake(workdir, "--report", "report.html", "--configfile", "config/test.yaml")
    if not screenshot_pages.browser_available():
        # CI installs Chromium (.ci/run): there, a missing browser is a failure, not a skip.
        assert os.environ.get("CI") != "true", "CI=true without Chromium and playwright"
        warnings.warn(
            "no Chromium or playwright: the report was built but not checked in a browser "
            "(tests/screenshot_pages.py says what to install)",
            stacklevel=1,
        )
        return
    pages = sorted(workdir.glob("results/*/reports/comparison.html"))
    shots = screenshot_pages.check_report(workdir / "report.html", pages, tmp_path / "shots")
    assert not [problem for shot in shots for problem in shot.problems]


# How much rank correlation with the planted truth a map may lose to noise (3 seeds' mean, a
# few hundred grid cells) and still count as "no worse" with all inputs.
AGREEMENT_TOLERANCE = 0.02


@pytest.mark.workflow
def test_maps_agree_with_the_truth_better_with_all_inputs(tmp_path):
    """On the demo's benchmarks, every masking strategy's map agrees with the planted
    occurrence probability at least as well with all inputs as without the modality whose
    absence hurts the maps most (and better on average)."""
    workdir = copy_repo(tmp_path / "repo")
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    strategies = ["uniform", "modality_dropout", "miam"]
    config["strategies"] = {name: config["strategies"][name] for name in strategies}
    for dataset in config["datasets"].values():
        dataset |= {"oracles": False, "weak_subsets": []}
        dataset["predict"]["maps"]["models"] = strategies
    path = workdir / "config" / "maps.yaml"
    path.write_text(yaml.safe_dump(config))
    targets = [f"results/{name}/predictions/grid/maps" for name in config["datasets"]]
    snakemake(workdir, *targets, "--configfile", str(path))
    for name in config["datasets"]:
        summary = pd.read_csv(
            workdir / f"results/{name}/predictions/grid/maps/agreement_summary.csv"
        )
        losses = scenario_losses(summary, "all_inputs")
        strongest = losses[losses["strongest"]]
        assert (strongest["loss"] > -AGREEMENT_TOLERANCE).all(), strongest
        assert strongest["loss"].mean() > 0, strongest
