"""GeoPlant tokenizer on generated files: shapes, names, and every planted fault masked."""

import io
import logging
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from miam.core.tokens import TokenSet
from miam.inputs.datasets.synthetic_geoplant import generate, load_manifest
from miam.inputs.quality import QualityLog
from miam.inputs.tokenize.geoplant import tokenize_geoplant
from miam.inputs.tokenize.satellite import centre_patch_names
from miam.inputs.tokenize.timeseries import load_cube


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("geoplant")
    generate(root, "tiny", seed=5, n_surveys=200, processes=1)
    return root


@pytest.fixture(scope="module")
def tokenized(generated):
    logging.disable(logging.WARNING)
    try:
        yield tokenize_geoplant(generated, min_occurrences=5, progress=False)
    finally:
        logging.disable(logging.NOTSET)


def _row(tokens: TokenSet, survey_id) -> int:
    return int(np.flatnonzero(tokens.samples["sample_id"] == str(survey_id))[0])


def test_documented_modalities_shapes_and_names(tokenized):
    tokens, _ = tokenized
    assert tokens.task == "multilabel"
    assert tokens.modality_names == ["tabular", "timeseries", "satellite"]
    n = tokens.n_samples
    assert n == 199  # 200 surveys, one dropped for out-of-range coordinates
    tabular = tokens.modality("tabular")
    assert tabular.kind == "scalar" and tabular.values.shape == (n, 42, 1)
    assert tabular.token_names[:19] == [f"bio{k}" for k in range(1, 20)]
    assert tabular.token_names[19:21] == ["elevation", "landcover/1"]
    assert tabular.token_names[-9:] == [
        f"soil/{v}"
        for v in ("bdod", "cec", "cfvo", "clay", "nitrogen", "phh2o", "sand", "silt", "soc")
    ]
    series = tokens.modality("timeseries")
    assert series.values.shape == (n, 19 + 21, 48)
    assert series.token_names[0] == "climate/2000" and series.token_names[18] == "climate/2018"
    assert series.token_names[19] == "landsat/2000" and series.token_names[-1] == "landsat/2020"
    assert not series.values[:, 19:, 24:].any(), "landsat tokens are zero-padded from 24 to 48"
    satellite = tokens.modality("satellite")
    assert satellite.values.shape == (n, 16, 1024)
    assert set(centre_patch_names(4)) <= set(satellite.token_names)
    assert 0.0 <= satellite.values.min() and satellite.values.max() <= 1.0
    assert tokens.targets.dtype == np.uint8 and tokens.targets.shape == (n, tokens.n_classes)
    assert list(tokens.samples.columns) == ["sample_id", "lon", "lat"]


def test_species_filter_keeps_more_than_min_occurrences(generated):
    logging.disable(logging.WARNING)
    try:
        tokens, _ = tokenize_geoplant(generated, min_occurrences=30, max_species=3, progress=False)
    finally:
        logging.disable(logging.NOTSET)
    assert tokens.n_classes <= 3
    assert (tokens.targets.sum(0) > 30).all()


def test_planted_faults_are_masked_and_counted(tokenized, generated):
    tokens, quality = tokenized
    planted = load_manifest(generated)["planted_issues"]
    frame = quality.frame()
    for kind, issue in planted.items():
        hits = frame[
            (frame["sample_id"] == str(issue["surveyId"])) & (frame["reason"] == issue["reason"])
        ]
        assert len(hits) >= 1, f"{kind} not in the quality log"
        assert (hits["modality"] == issue["modality"]).all()

    def row(kind: str) -> int:
        return _row(tokens, planted[kind]["surveyId"])

    satellite, series = tokens.modality("satellite"), tokens.modality("timeseries")
    assert not satellite.present[row("truncated_tile")].any()
    assert not satellite.present[row("three_band_tile")].any()
    assert not series.present[row("wrong_shape_climate_cube"), :19].any()
    assert series.present[row("wrong_shape_climate_cube"), 19:].any()
    assert not series.present[row("nan_landsat_cube"), 19:].any()
    assert not series.present[row("unsafe_pickle_cube"), :19].any()
    tabular = tokens.modality("tabular")
    assert not tabular.present[row("empty_bio1_cell"), tabular.token_names.index("bio1")]
    assert str(planted["out_of_range_coordinates"]["surveyId"]) not in set(
        tokens.samples["sample_id"]
    )
    # Natural missingness: counted, and each absent token is zero.
    counts = quality.counts()
    assert counts["satellite"]["missing_file"] >= 1 and counts["timeseries"]["nan_values"] >= 1
    for modality in tokens.modalities:
        assert not modality.values[~modality.present].any()


def test_malicious_pickle_is_refused_not_executed(tmp_path):
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    buffer = io.BytesIO()
    torch.save(Payload(), buffer)
    quality = QualityLog()
    cube = load_cube(buffer.getvalue(), (4, 19, 12), quality, "timeseries", 7, "evil_7_cube.pt")
    assert cube is None and not marker.exists()
    assert quality.counts() == {"timeseries": {"corrupt_file": 1}}


def test_extracted_folders_read_like_the_zips(generated, tokenized, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(generated, root)
    for archive in root.rglob("*.zip"):
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(archive.with_suffix(""))
        archive.unlink()
    logging.disable(logging.WARNING)
    try:
        tokens, quality = tokenize_geoplant(root, min_occurrences=5, progress=False)
    finally:
        logging.disable(logging.NOTSET)
    expected, expected_quality = tokenized
    for got, want in zip(tokens.modalities, expected.modalities, strict=True):
        assert np.array_equal(got.values, want.values) and np.array_equal(got.present, want.present)
    assert {m: sum(c.values()) for m, c in quality.counts().items()} == {
        m: sum(c.values()) for m, c in expected_quality.counts().items()
    }


def test_unreadable_survey_table_stops_with_its_name(generated, tmp_path):
    root = tmp_path / "broken"
    shutil.copytree(generated / "GeoPlantData", root / "GeoPlantData")
    metadata = root / "GeoPlantData/PresenceAbsenceSurveys/PA_metadata_train.csv"
    metadata.unlink()
    with pytest.raises(ValueError, match=r"PA_metadata_train\.csv"):
        tokenize_geoplant(root, progress=False)
    metadata.write_text("")
    with pytest.raises(ValueError, match=r"PA_metadata_train\.csv"):
        tokenize_geoplant(root, progress=False)


def test_tokens_round_trip_through_the_shared_format(tokenized, tmp_path):
    tokens, _ = tokenized
    tokens.save(tmp_path / "tokens")
    loaded = TokenSet.load(tmp_path / "tokens")
    assert loaded.modality_names == tokens.modality_names
    assert np.array_equal(loaded.targets, tokens.targets)
    assert loaded.samples["sample_id"].tolist() == tokens.samples["sample_id"].tolist()
