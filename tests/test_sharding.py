"""Sharded tokenization: n shards, concatenated in order, give the tokens of one unsharded run."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from fixtures_real import build_geoplant_fixture, build_taxabench_fixture
from helpers import toy_tokens

from miam.core.tokens import TokenSet, shard_rows
from miam.inputs.gather import gather_shards
from miam.inputs.health import ModalityHealthError
from miam.inputs.quality import QualityLog
from miam.inputs.sources import tokenize

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def quiet_quality_log():
    logging.disable(logging.WARNING)  # every planted problem is logged once per run
    yield
    logging.disable(logging.NOTSET)


def assert_same_tokens(expected: TokenSet, actual: TokenSet) -> None:
    assert actual.task == expected.task
    assert actual.class_names == expected.class_names
    pd.testing.assert_frame_equal(actual.samples, expected.samples)
    np.testing.assert_array_equal(actual.targets, expected.targets)
    assert actual.modality_names == expected.modality_names
    for want, got in zip(expected.modalities, actual.modalities, strict=True):
        assert got.token_names == want.token_names, want.name
        np.testing.assert_array_equal(got.present, want.present, err_msg=want.name)
        np.testing.assert_array_equal(got.values, want.values, err_msg=want.name)


def sorted_issues(logs: list[QualityLog]) -> pd.DataFrame:
    issues = pd.concat([log.frame() for log in logs], ignore_index=True)
    return issues.sort_values(list(issues.columns)).reset_index(drop=True)


def tokenize_in_shards(reader: str, root: Path, n_shards: int, **options):
    shards = [
        tokenize(reader, root, progress=False, shard=(k, n_shards), **options)
        for k in range(n_shards)
    ]
    return TokenSet.concat([tokens for tokens, _ in shards]), [quality for _, quality in shards]


@pytest.mark.parametrize("n_samples", [0, 1, 7, 8, 100])
@pytest.mark.parametrize("n_shards", [1, 3, 10])
def test_shards_are_contiguous_blocks_covering_every_sample_once(n_samples, n_shards):
    blocks = [shard_rows(n_samples, k, n_shards) for k in range(n_shards)]
    covered = [i for block in blocks for i in range(n_samples)[block]]
    assert covered == list(range(n_samples))
    sizes = [len(range(n_samples)[block]) for block in blocks]
    assert max(sizes) - min(sizes) <= 1


def test_geoplant_in_three_shards_equals_one_run_species_chosen_globally(tmp_path):
    fixture = build_geoplant_fixture(tmp_path / "geoplant")
    metadata = fixture.root / "PresenceAbsenceSurveys" / "PA_metadata_train.csv"
    # A survey that cannot be placed on the map: dropped, and reported once, not once per shard.
    table = pd.read_csv(metadata)
    lost = table.iloc[[0]].assign(surveyId=777, lon=999.0)
    pd.concat([table, lost]).to_csv(metadata, index=False)
    options = {"min_occurrences": 3}  # species 1001-1003; no shard alone has 3 of 1003

    whole, whole_quality = tokenize("geoplant", fixture.root, progress=False, **options)
    sharded, shard_qualities = tokenize_in_shards("geoplant", fixture.root, 3, **options)

    assert whole.class_names == ["1001", "1002", "1003"]
    assert_same_tokens(whole, sharded)
    pd.testing.assert_frame_equal(sorted_issues(shard_qualities), sorted_issues([whole_quality]))
    assert (sorted_issues(shard_qualities)["sample_id"] == "777").sum() == 1


def test_more_shards_than_surveys_saved_and_reloaded_equal_one_run(tmp_path):
    fixture = build_geoplant_fixture(tmp_path / "geoplant")
    whole, _ = tokenize("geoplant", fixture.root, progress=False, min_occurrences=2)
    folders = []
    for k in range(10):  # 8 surveys: two shards are empty
        tokens, _ = tokenize(
            "geoplant", fixture.root, progress=False, min_occurrences=2, shard=(k, 10)
        )
        tokens.save(tmp_path / f"shard{k}")
        folders.append(tmp_path / f"shard{k}")
    assert_same_tokens(whole, TokenSet.concat([TokenSet.load(folder) for folder in folders]))


def test_taxabench_in_three_shards_equals_one_run(tmp_path):
    fixture = build_taxabench_fixture(tmp_path / "taxabench")
    observations = fixture.root / "test_df.csv"
    # A row without taxon_id: dropped, and reported once, not once per shard.
    table = pd.read_csv(observations, index_col=0, dtype=str, keep_default_na=False)
    unlabelled = table.iloc[[0]].assign(id="99999999", taxon_id="")
    pd.concat([table, unlabelled]).to_csv(observations)
    options = {"min_occurrences": 1, "satellite_bands": 3}

    whole, whole_quality = tokenize("taxabench", fixture.root, progress=False, **options)
    sharded, shard_qualities = tokenize_in_shards("taxabench", fixture.root, 3, **options)

    assert whole.n_samples == len(fixture.sample_ids)
    assert_same_tokens(whole, sharded)
    pd.testing.assert_frame_equal(sorted_issues(shard_qualities), sorted_issues([whole_quality]))
    assert (sorted_issues(shard_qualities)["sample_id"] == "99999999").sum() == 1


def test_workflow_plans_one_tokenize_shard_job_per_shard_and_one_gather(tmp_path):
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["datasets"] = {"tiny-taxabench": config["datasets"]["tiny-taxabench"]}
    config["datasets"]["tiny-taxabench"]["shards"] = 3
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [
            sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
            "--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml"),
            "--workflow-profile", "none", "--dry-run", "--cores", "1",
            "results/tiny-taxabench/quality/summary.json",
        ],
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    counts = dict(
        line.split()
        for line in result.stdout.splitlines()
        if line.split()[:1] in (["generate_dataset"], ["tokenize_shard"], ["gather_tokens"])
        and len(line.split()) == 2
    )
    assert counts == {"generate_dataset": "1", "tokenize_shard": "3", "gather_tokens": "1"}
    for shard in range(3):
        assert f"results/tiny-taxabench/shards/{shard}/tokens" in result.stdout


def write_shards(tmp_path: Path, tokens: TokenSet, issues: list[dict], n_shards: int):
    """`tokens` cut into `n_shards` saved shards, each with the issues of its own samples."""
    folders, reports = [], []
    for k in range(n_shards):
        rows = np.arange(tokens.n_samples)[shard_rows(tokens.n_samples, k, n_shards)]
        folder = tmp_path / f"{n_shards}" / f"shard{k}"
        tokens.take(rows).save(folder / "tokens")
        quality = QualityLog()
        ids = set(tokens.samples["sample_id"].iloc[rows])
        for issue in reversed(issues):  # a shard records in its own order
            if issue["sample_id"] in ids:
                quality.record(**issue)
        quality.frame().to_csv(folder / "issues.csv", index=False)
        folders.append(folder / "tokens")
        reports.append(folder / "issues.csv")
    return folders, reports


def test_gathered_shards_and_report_do_not_depend_on_the_number_of_shards(tmp_path, caplog):
    tokens = toy_tokens(n=50)
    issues = [
        {"modality": "ts", "reason": "nan_values", "sample_id": f"s{i}", "path": "", "detail": ""}
        for i in (3, 30, 45)
    ]
    outputs = {}
    for n_shards in (1, 3):
        out = tmp_path / f"out{n_shards}"
        out.mkdir()
        shards = write_shards(tmp_path, tokens, issues, n_shards)
        caplog.clear()  # the shards' jobs logged each issue
        gather_shards(
            *shards,
            out / "tokens",
            out / "issues.csv",
            out / "summary.json",
            dataset="toy",
            allow_absent=[],
            health_gate={},
            stopped_issues_csv=out / "stopped.csv",
            subsets={"datasets.toy.subsets.years": {"ts": ["year/*"]}},
        )
        outputs[n_shards] = out
        # the gather counts them, naming none again
        assert not [r for r in caplog.records if "sample s3" in r.getMessage()]
    assert_same_tokens(TokenSet.load(outputs[1] / "tokens"), TokenSet.load(outputs[3] / "tokens"))
    for report in ("issues.csv", "summary.json"):
        assert (outputs[1] / report).read_text() == (outputs[3] / report).read_text()
    assert len(pd.read_csv(outputs[3] / "issues.csv")) == 3


def test_a_subset_matching_no_token_fails_the_gather_naming_its_key(tmp_path):
    folders, reports = write_shards(tmp_path, toy_tokens(n=20), [], 2)
    with pytest.raises(ValueError, match=r"datasets\.toy\.subsets\.bad"):
        gather_shards(
            folders,
            reports,
            tmp_path / "tokens",
            tmp_path / "issues.csv",
            tmp_path / "summary.json",
            dataset="toy",
            allow_absent=[],
            health_gate={},
            stopped_issues_csv=tmp_path / "stopped.csv",
            subsets={"datasets.toy.subsets.bad": {"ts": ["month/*"]}},
        )


def test_the_file_the_health_gate_names_exists_when_it_stops(tmp_path):
    tokens = toy_tokens(n=20)
    img = tokens.modality("img")
    img.present[:] = False  # the images never arrived: every file corrupt
    issues = [
        {"modality": "img", "reason": "corrupt_file", "sample_id": f"s{i}", "path": f"{i}.png"}
        for i in range(20)
    ]
    issues = [{**issue, "detail": "cut short"} for issue in issues]
    stopped = tmp_path / "logs" / "issues.csv"
    stopped.parent.mkdir()
    with pytest.raises(ModalityHealthError) as error:
        gather_shards(
            *write_shards(tmp_path, tokens, issues, 2),
            tmp_path / "tokens",
            tmp_path / "issues.csv",
            tmp_path / "summary.json",
            dataset="toy",
            allow_absent=[],
            health_gate={},
            stopped_issues_csv=stopped,
        )
    assert f"({stopped} lists every issue.)" in str(error.value)
    assert len(pd.read_csv(stopped)) == 20
