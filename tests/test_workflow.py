"""The workflow as a user runs it: lint, config errors, and one tiny end-to-end run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from miam import pipeline

REPO = Path(__file__).resolve().parents[1]
TEST_CONFIG = REPO / "config" / "test.yaml"


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


def write_config(tmp_path: Path, edit) -> Path:
    config = yaml.safe_load(TEST_CONFIG.read_text())
    edit(config)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda c: c["strategies"].update(typo={"kind": "miamm"}), "miamm"),
        (lambda c: c.update(trainig={"epochs": 1}), "trainig"),
        (lambda c: c["strategies"]["miam"].update(kapa=3.0), "kapa"),
        (
            lambda c: c["datasets"]["synthetic-geoplant"]["subsets"].update(bad={"sound": "all"}),
            "sound",
        ),
    ],
    ids=["unknown-strategy", "misspelled-key", "unknown-parameter", "missing-modality"],
)
def test_bad_config_fails_before_any_job_naming_the_key(tmp_path, edit, named):
    done = snakemake(REPO, "-n", "--configfile", str(write_config(tmp_path, edit)), check=False)
    assert done.returncode != 0
    assert named in done.stdout + done.stderr
    assert "rule generate_dataset" not in done.stdout


@pytest.mark.workflow
def test_tiny_end_to_end_run(tmp_path):
    workdir = copy_repo(tmp_path / "repo")
    snakemake(workdir, "--configfile", "config/test.yaml")
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
    # Finished results: a second run has nothing to do.
    again = snakemake(workdir, "-n", "--configfile", "config/test.yaml")
    assert "Nothing to be done" in again.stdout + again.stderr
