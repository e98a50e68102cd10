"""The download and tokenize rules, run by Snakemake against fixture copies of the real datasets.

Both fixtures (tests/fixtures_real.py) are served on 127.0.0.1; a config of `download` sources
with `base_url` pointing there runs the workflow up to the split, in a temporary folder. The
tokens must hold what the fixtures hold: the samples, their species, and every planted problem
masked and reported.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from fixtures_real import CONFIG_DIR, build_geoplant_fixture, build_taxabench_fixture
from http_server import serve_directory

from miam.core.tokens import TokenSet
from miam.inputs.fetch import LOCK_FILE_NAME
from miam.inputs.quality import QualityLog
from miam.inputs.tokenize.satellite import TileStore

REPO = Path(__file__).resolve().parents[1]
# Which modality of the tokens each fixture file key feeds.
MODALITY_OF = {
    "climate": "tabular",
    "elevation": "tabular",
    "soilgrids": "tabular",
    "landsat_cubes": "timeseries",
    "bioclim_cubes": "timeseries",
    "sentinel2": "satellite",
    "ground_images": "image",
    "sounds": "audio",
    "environment": "environment",
}
GEOPLANT_MIN_OCCURRENCES = 2


def run_snakemake(workdir: Path, config: dict, *targets: str) -> subprocess.CompletedProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir), "--configfile", str(config_path), "--cores", "2",
        "--workflow-profile", "none", "--show-failed-logs", *targets,
    ]  # fmt: skip
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def download_source(name: str, base_url: str, dataset_config: Path | None = None) -> dict:
    return {
        "kind": "download",
        "dataset_config": str(dataset_config or CONFIG_DIR / f"{name}.yaml"),
        "base_url": base_url,
        "retries": 0,
    }


def workflow_config(datasets: dict) -> dict:
    """A tiny config around `datasets`; only the data stages run."""
    return {
        "seeds": [0],
        "datasets": datasets,
        "strategies": {"uniform": {"kind": "uniform"}},
        "model": {"dim": 16, "depth": 1, "heads": 2, "ffn_dim": 16},
        "training": {"epochs": 1},
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    fixtures = {
        "geoplant": build_geoplant_fixture(root / "geoplant"),
        "taxabench": build_taxabench_fixture(root / "taxabench"),
    }
    with serve_directory(root) as server:
        yield fixtures, server


@pytest.fixture(scope="module")
def workflow_run(served, tmp_path_factory):
    fixtures, server = served
    workdir = tmp_path_factory.mktemp("workflow")
    datasets = {
        "geoplant": {
            "source": download_source("geoplant", f"{server.url}/geoplant"),
            "reader": "geoplant",
            "reader_options": {"min_occurrences": GEOPLANT_MIN_OCCURRENCES},
            "shards": 2,
            "modality_subsets": True,
        },
        "taxabench": {
            "source": download_source("taxabench", f"{server.url}/taxabench"),
            "reader": "taxabench",
            # Every species (the fixture has one to three observations of each), RGB tiles.
            "reader_options": {"min_occurrences": 1, "satellite_bands": 3},
            "modality_subsets": True,
        },
    }
    result = run_snakemake(
        workdir,
        workflow_config(datasets),
        "results/geoplant/split.csv",
        "results/taxabench/split.csv",
    )
    assert result.returncode == 0, result.stderr[-5000:]
    return fixtures, workdir


def tokens_and_issues(workdir: Path, name: str) -> tuple[TokenSet, pd.DataFrame]:
    results = workdir / "results" / name
    issues = pd.read_csv(results / "quality" / "issues.csv", dtype=str, keep_default_na=False)
    return TokenSet.load(results / "tokens"), issues


def assert_planted_problems_masked_and_reported(tokens, issues, fixture):
    sample_ids = tokens.samples["sample_id"].tolist()
    for reason, by_file in fixture.problems.items():
        for file_key, ids in by_file.items():
            modality = MODALITY_OF[file_key]
            for sample_id in map(str, ids):
                reported = issues[
                    (issues["modality"] == modality)
                    & (issues["reason"] == reason)
                    & (issues["sample_id"] == sample_id)
                ]
                assert len(reported) >= 1, f"{reason} of {file_key} for {sample_id} not reported"
                row = sample_ids.index(sample_id)
                assert not tokens.modality(modality).present[row].all(), (
                    f"{file_key} of {sample_id} ({reason}) left all its tokens present"
                )


def test_geoplant_tokens_hold_the_fixture_surveys_species_and_problems(workflow_run):
    fixtures, workdir = workflow_run
    fixture = fixtures["geoplant"]
    tokens, issues = tokens_and_issues(workdir, "geoplant")
    assert tokens.samples["sample_id"].tolist() == sorted(map(str, fixture.sample_ids), key=int)
    kept = fixture.kept_species(GEOPLANT_MIN_OCCURRENCES)
    assert tokens.class_names == [str(s) for s in kept]
    for row, sample_id in enumerate(tokens.samples["sample_id"]):
        present = {
            int(c) for c, y in zip(tokens.class_names, tokens.targets[row], strict=True) if y
        }
        assert present == set(fixture.species[int(sample_id)]) & set(kept)
    assert_planted_problems_masked_and_reported(tokens, issues, fixture)
    assert not fixture.tamper_marker.exists(), "the malicious pickle ran"
    summary = json.loads((workdir / "results/geoplant/quality/summary.json").read_text())
    assert summary["n_issues"] == len(issues)
    split = pd.read_csv(workdir / "results/geoplant/split.csv", dtype={"sample_id": str})
    assert set(split["sample_id"]) == set(tokens.samples["sample_id"])


def test_geoplant_files_are_pinned_and_the_sentinel_zip_extracted(workflow_run):
    fixtures, workdir = workflow_run
    data = workdir / "results" / "geoplant" / "raw"
    lock = json.loads((data / LOCK_FILE_NAME).read_text())
    assert lock == fixtures["geoplant"].files
    extracted = data / "SatelliteData/Sentinel2Patches-tiff/PA-Train-Sentinel2Patches"
    assert sorted(p.name for p in extracted.rglob("*.tiff")) == sorted(
        f"{sid}.tiff" for sid in fixtures["geoplant"].sample_ids if sid != 990017
    )


def test_taxabench_tokens_hold_the_fixture_observations_species_and_problems(workflow_run):
    fixtures, workdir = workflow_run
    fixture = fixtures["taxabench"]
    tokens, issues = tokens_and_issues(workdir, "taxabench")
    assert tokens.samples["sample_id"].tolist() == [str(i) for i in fixture.sample_ids]
    species = [tokens.class_names[c] for c in tokens.targets]
    assert species == [fixture.species[i][0] for i in fixture.sample_ids]
    assert_planted_problems_masked_and_reported(tokens, issues, fixture)
    # Files the server did not have are reported as such (from the download manifest).
    for file_key, ids in fixture.problems["missing_file"].items():
        reported = issues[(issues["modality"] == MODALITY_OF[file_key])]
        reported = reported[reported["sample_id"].isin(map(str, ids))]
        assert len(reported) == len(ids)
        assert reported["detail"].str.contains("not on the server").all()
    # Every RGB JPEG tile was read: the satellite tokens of observations on land are present.
    assert tokens.modality("satellite").present.all()
    assert tokens.modality("satellite").token_dim == 3 * 16 * 16


def test_taxabench_jpeg_tiles_are_found_by_id_and_checked_like_geotiffs(served, tmp_path):
    fixtures, _ = served
    folder = fixtures["taxabench"].root / "sat_images" / "sentinel"
    first = str(fixtures["taxabench"].sample_ids[0])
    store = TileStore(folder)
    assert sorted(store.members) == sorted(map(str, fixtures["taxabench"].sample_ids))
    quality = QualityLog()
    tile = store.read(first, quality, "satellite", size=64, n_bands=3)
    # 8-bit tiles as fractions of their range (the normaliser scales them like any modality)
    assert (
        tile.shape == (3, 64, 64) and tile.dtype == "float32" and 0 <= tile.min() <= tile.max() <= 1
    )
    assert store.read(first, quality, "satellite", size=64, n_bands=4) is None
    (tmp_path / f"{first}_1.0_2.0.jpeg").write_bytes(
        (folder / store.members[first]).read_bytes()[:300]
    )
    assert TileStore(tmp_path).read(first, quality, "satellite", n_bands=3) is None
    assert quality.frame()["reason"].tolist() == ["wrong_shape", "corrupt_file"]


def test_checksum_mismatch_fails_the_workflow_naming_the_hashes_and_leaves_no_file(
    served, tmp_path
):
    fixtures, server = served
    wrong = "0" * 64
    dataset_yaml = yaml.safe_load((CONFIG_DIR / "taxabench.yaml").read_text())
    dataset_yaml["files"]["taxa_names"]["sha256"] = wrong
    dataset_config = tmp_path / "taxabench.yaml"
    dataset_config.write_text(yaml.safe_dump(dataset_yaml))
    source = download_source("taxabench", f"{server.url}/taxabench", dataset_config)
    config = workflow_config(
        {"taxabench": {"source": source, "reader": "taxabench", "modality_subsets": True}}
    )
    workdir = tmp_path / "workflow"
    target = workdir / "results/taxabench/raw/taxa_names.npy"

    result = run_snakemake(workdir, config, "results/taxabench/raw/taxa_names.npy")

    assert result.returncode != 0
    actual = fixtures["taxabench"].files["taxa_names.npy"]
    assert "checksum mismatch for taxa_names.npy" in result.stderr
    assert f"expected sha256 {wrong}, got {actual}" in result.stderr
    assert not target.exists() and not target.with_name(target.name + ".part").exists()
