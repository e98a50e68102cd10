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
from fixtures_real import build_geoplant_fixture

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


# --- the releases as published (tests/fixtures_real.py) ---------------------------------------

FIXTURE_OPTIONS = dict(min_occurrences=2, progress=False)


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """The Seafile release: (fixture, tokens, quality)."""
    fixture = build_geoplant_fixture(tmp_path_factory.mktemp("released") / "geoplant")
    tokens, quality = tokenize_geoplant(fixture.root, **FIXTURE_OPTIONS)
    return fixture, tokens, quality


def test_int16_laea_tiles_with_nodata_give_present_finite_tokens_without_the_nodata_patch(
    released,
):
    fixture, tokens, quality = released
    satellite = tokens.modality("satellite")
    read = [
        _row(tokens, sid)
        for sid in fixture.sample_ids
        if sid not in (990017, 2500001)  # no tile, truncated tile
    ]
    assert satellite.present[read].sum() == len(read) * 16 - 1  # 212's r0c0 patch: nodata
    assert not satellite.present[_row(tokens, 212), satellite.token_names.index("r0c0")]
    values = satellite.values[read]
    assert np.isfinite(values).all()
    # Reflectances as stored (hundreds to thousands), for the normaliser to scale per value.
    assert values[satellite.present[read]].max() > 1000
    (nodata,) = quality.frame().query("reason == 'nodata'").itertuples()
    assert nodata.sample_id == "212" and "nodata" in nodata.detail
    assert "wrong_shape" not in quality.counts().get("satellite", {})


def test_a_fill_value_is_absent_and_counted(released):
    _, tokens, quality = released
    tabular = tokens.modality("tabular")
    assert not tabular.present[_row(tokens, 1001507), tabular.token_names.index("soil/soc")]
    fills = quality.frame().query("reason == 'fill_value'")
    assert fills[["modality", "sample_id"]].values.tolist() == [["tabular", "1001507"]]


def test_a_refused_cube_is_reported_without_torchs_unsafe_advice(released):
    fixture, _, quality = released
    refused = quality.frame().query("sample_id == '3018575' and reason == 'corrupt_file'")
    assert len(refused) == 1 and not fixture.tamper_marker.exists()
    assert "weights_only" not in refused.detail.iloc[0] and refused.detail.iloc[0]


@pytest.mark.parametrize("release", ["glc25", "glc24", "kaggle"])
def test_each_known_release_layout_reads_like_the_seafile_one(released, release, tmp_path):
    _, expected_tokens, _ = released
    fixture = build_geoplant_fixture(tmp_path / release, release=release)
    tokens, _ = tokenize_geoplant(fixture.root, **FIXTURE_OPTIONS)
    assert tokens.samples["sample_id"].tolist() == expected_tokens.samples["sample_id"].tolist()
    for name in ("tabular", "timeseries"):
        got, want = tokens.modality(name), expected_tokens.modality(name)
        assert np.array_equal(got.present, want.present) and np.array_equal(got.values, want.values)
    satellite = tokens.modality("satellite")
    assert satellite.values.shape == expected_tokens.modality("satellite").values.shape
    readable = [_row(tokens, s) for s in fixture.sample_ids if s not in (990017, 2500001)]
    assert satellite.present[readable].mean() > 0.9 and np.isfinite(satellite.values).all()
    assert not satellite.present[[_row(tokens, 990017), _row(tokens, 2500001)]].any()
    if release == "glc24":  # the JPEG release: an RGB and a NIR JPEG, 8-bit, read as 4 bands
        assert 0.0 <= satellite.values.min() and satellite.values.max() <= 1.0
        assert satellite.values[readable, :, 3 * 256 :].std() > 0  # the NIR band is there


def test_a_missing_table_names_every_path_tried_and_the_yaml_key(released, tmp_path):
    fixture, _, _ = released
    root = tmp_path / "copy"
    shutil.copytree(fixture.root, root)
    (root / "EnvironmentalValues/SoilGrids/v2/PA-train-soilgrids.csv").unlink()
    with pytest.raises(ValueError) as error:
        tokenize_geoplant(root, **FIXTURE_OPTIONS)
    message = str(error.value)
    assert "layout.soilgrids in config/datasets/geoplant.yaml" in message
    for tried in ("SoilGrids/v2/PA-train-soilgrids.csv", "SoilGrids/GLC25-PA-train-soilgrids.csv"):
        assert tried in message


@pytest.mark.parametrize("dtype", ["uint16", "int32", "float32", "complex64"])
def test_any_numeric_tile_dtype_is_read_and_a_dtype_problem_is_named_as_one(dtype):
    import rasterio
    from affine import Affine

    from miam.inputs.tokenize.satellite import read_tile

    pixels = (np.arange(4 * 64 * 64).reshape(4, 64, 64) % 5000).astype(dtype)
    with rasterio.MemoryFile() as memory:
        profile = dict(driver="GTiff", width=64, height=64, count=4, dtype=dtype)
        with memory.open(**profile, crs="EPSG:3035", transform=Affine(10, 0, 0, 0, -10, 0)) as tif:
            tif.write(pixels)
        data = memory.read()
    quality = QualityLog()
    tile = read_tile(data, quality, "satellite", 7, label="t.tiff")
    if dtype == "complex64":
        assert tile is None and quality.counts() == {"satellite": {"wrong_dtype": 1}}
        assert quality.frame().detail[0] == "dtype complex64"
    else:
        assert quality.counts() == {} and np.array_equal(tile, pixels.astype(np.float32))
