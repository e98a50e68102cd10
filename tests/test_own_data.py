"""Bring your own data: the generic reader on files written in the real formats (GeoPackage,
GeoJSON, Shapefile, Parquet, CSV.GZ; float32 multi-band GeoTIFFs in a projected CRS with nodata;
WAV at 44.1 and 32 kHz), damaged inputs, the split kinds, and the checks made when the workflow
parses a config. The end-to-end run of a dataset added by config alone is the last test."""

from __future__ import annotations

import copy
import dataclasses
import gzip
import inspect
import logging
import os
import re
import shutil
from pathlib import Path

import numpy as np
import own_data
import pandas as pd
import pytest
import rasterio
import yaml
from PIL import Image
from rasterio.transform import from_origin
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from miam.analysis.contribution_settings import ContributionSettings, contribution_options
from miam.core.console import CONSOLE
from miam.core.errors import InputError
from miam.core.split import split_samples
from miam.inputs.health import HealthGate, ModalityHealthError, check_health, modality_health
from miam.inputs.local_source import write_manifest
from miam.inputs.quality import QualityLog
from miam.inputs.tokenize import generic_spec
from miam.inputs.tokenize.generic import tokenize_generic
from miam.inputs.tokenize.sample_table import read_sample_table
from miam.inputs.tokenize.satellite import band_names, patch_tokens, read_tile
from miam.inputs.tokenize.tabular import read_table
from miam.workflow import pipeline

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
TABLE_MODALITIES = ("climate", "ecoregion", "tmax", "where")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return own_data.write_dataset(tmp_path_factory.mktemp("own") / "plots")


@pytest.fixture(scope="module")
def tokenized(dataset):
    return tokenize_generic(dataset, progress=False, **own_data.READER_OPTIONS)


def options(**changes) -> dict:
    result = copy.deepcopy(own_data.READER_OPTIONS)
    result.update(changes)
    return result


def only(*names: str) -> dict:
    """The reader options with only the named modalities."""
    return {n: own_data.READER_OPTIONS["modalities"][n] for n in names}


def issues(quality: QualityLog, modality: str | None = None) -> pd.DataFrame:
    frame = quality.frame()
    return frame if modality is None else frame[frame["modality"] == modality]


# --- the reader -------------------------------------------------------------------------------


def test_every_declared_modality_in_order_with_its_kind(tokenized):
    tokens, _ = tokenized
    assert tokens.modality_names == list(own_data.READER_OPTIONS["modalities"])
    kinds = {m.name: (m.kind, m.token_names, m.token_dim) for m in tokens.modalities}
    assert kinds["climate"] == ("scalar", ["bio1", "bio12"], 1)
    assert kinds["ecoregion"] == ("vector", ["ecoregion"], 3)  # one position per level
    assert kinds["tmax"] == ("vector", ["2001", "2002", "2003", "2004"], 1)
    assert kinds["terrain"] == ("scalar", ["dem"], 1)
    assert kinds["tiles"] == ("vector", ["r0c0", "r0c1", "r1c0", "r1c1"], 5 * 8 * 8)
    assert kinds["calls"][:2] == ("vector", ["t0f0", "t0f1", "t1f0", "t1f1"])
    assert kinds["where"] == ("vector", ["latlon"], 24)
    assert tokens.task == "multiclass" and tokens.class_names == own_data.SPECIES
    expected = own_data.plots()
    assert list(tokens.samples["sample_id"]) == list(expected["plot_id"])
    assert list(tokens.samples["group"]) == list(expected["site"])
    np.testing.assert_array_equal(
        tokens.targets, [own_data.SPECIES.index(s) for s in expected["species"]]
    )


def test_shards_concatenate_to_the_whole(dataset, tokenized):
    from miam.core.tokens import TokenSet

    parts = [
        tokenize_generic(dataset, shard=(k, 3), progress=False, **own_data.READER_OPTIONS)[0]
        for k in range(3)
    ]
    whole, joined = tokenized[0], TokenSet.concat(parts)
    pd.testing.assert_frame_equal(joined.samples, whole.samples)
    for mine, theirs in zip(joined.modalities, whole.modalities, strict=True):
        np.testing.assert_array_equal(mine.values, theirs.values)
        np.testing.assert_array_equal(mine.present, theirs.present)


def test_projected_coordinates_are_reprojected_to_lon_lat(tokenized):
    from pyproj import Transformer

    tokens, _ = tokenized
    plots = own_data.plots()
    lon, lat = Transformer.from_crs(own_data.UTM, "EPSG:4326", always_xy=True).transform(
        plots["easting"], plots["northing"]
    )
    np.testing.assert_allclose(tokens.samples["lon"], lon, atol=1e-7)
    np.testing.assert_allclose(tokens.samples["lat"], lat, atol=1e-7)
    assert (
        tokens.samples["lon"].between(6, 12).all() and tokens.samples["lat"].between(44, 48).all()
    )


def test_float32_five_band_projected_tiles_with_nodata(tokenized, dataset):
    tokens, quality = tokenized
    tiles = tokens.modality("tiles")
    found = issues(quality, "tiles")
    # every fifth plot has nodata in the tile's north-west corner: that patch only is absent
    nodata = {f"P{i:03d}" for i in range(60) if i % 5 == 0 and i % 10 != 7}
    assert set(found[found["reason"] == "nan_values"]["sample_id"]) == nodata
    assert set(found[found["reason"] == "missing_file"]["sample_id"]) == {
        f"P{i:03d}" for i in range(60) if i % 10 == 7
    }
    assert not tiles.present[0, 0] and tiles.present[0, 1:].all()
    # raw float32 values, band-major inside a patch, as written
    with rasterio.open(dataset / "tiles" / "P001.tif") as tile:
        written = tile.read()
    np.testing.assert_array_equal(tiles.values[1, 3], written[:, 8:, 8:].reshape(-1))


def test_a_tile_that_does_not_cover_its_point_is_out_of_range(dataset, tmp_path):
    root = tmp_path / "plots"
    shutil.copytree(dataset, root)
    plots = own_data.plots()
    own_data.write_tile(
        root / "tiles" / "P002.tif", plots.easting[2] + 5_000, plots.northing[2], 2, False
    )
    tokens, quality = tokenize_generic(root, progress=False, **options(modalities=only("tiles")))
    assert not tokens.modality("tiles").present[2].any()
    assert issues(quality, "tiles").set_index("sample_id").loc["P002", "reason"] == "out_of_range"


def test_audio_at_44_1_and_32_khz_is_resampled_and_counted(dataset):
    tokens, quality = tokenize_generic(dataset, progress=False, **options(modalities=only("calls")))
    resampled = issues(quality, "calls").query("reason == 'resampled'")
    assert len(resampled) == 54  # every recording there: none is at 8 kHz
    # odd plots at 44.1 kHz, even ones at 32 kHz; plots 8, 18, ... have no recording
    assert resampled.detail.str.contains("44100 Hz to 8000 Hz; above 4000 Hz lost").sum() == 30
    assert resampled.detail.str.contains("32000 Hz to 8000 Hz").sum() == 24
    calls = tokens.modality("calls")
    # a 44.1 kHz (odd) and a 32 kHz (even) plot of one species hold the same tone: the same
    # tokens, within what resampling changes
    species = own_data.plots()["species"]
    odd, even = 1, next(i for i in range(0, 60, 2) if species[i] == species[1] and i % 10 != 8)
    a, b = calls.values[odd], calls.values[even]
    loud = (a > -60) | (b > -60)  # the tone; below, resampling noise floors differ
    assert loud.any()
    np.testing.assert_allclose(a[loud], b[loud], atol=1.5)
    assert calls.present.sum(axis=0)[0] == 54


def test_recordings_cropped_and_padded_are_counted_with_one_warning(dataset, tmp_path, caplog):
    root = tmp_path / "plots"
    shutil.copytree(dataset, root)
    own_data.write_call(root / "calls" / "P000.wav", 8_000, 2.0, 300)  # 1.5 s past 0.5 s
    own_data.write_call(root / "calls" / "P001.wav", 8_000, 0.2, 300)  # 0.3 s short
    with caplog.at_level(logging.WARNING, logger="miam.inputs.quality"):
        _, quality = tokenize_generic(root, progress=False, **options(modalities=only("calls")))
        quality.write(tmp_path / "issues.csv", tmp_path / "summary.json")
    adjusted = yaml.safe_load((tmp_path / "summary.json").read_text())["adjusted"]["calls"]
    assert adjusted["cropped"] == {"count": 1, "seconds": 1.5}
    assert adjusted["padded"] == {"count": 1, "seconds": 0.3}
    assert adjusted["resampled"]["count"] == 52
    # One warning for them all, on the console too (the missing recordings are warned about in
    # the log, with what is missing).
    missing = [r.getMessage() for r in caplog.records if "missing_file" in r.getMessage()]
    assert missing[0].endswith("calls/P008.*): no file of this sample in the folder")
    (warning,) = [r for r in caplog.records if "missing_file" not in r.getMessage()]
    assert "calls cropped 1 (1.5 s)" in warning.getMessage() and getattr(warning, CONSOLE)


@pytest.mark.parametrize("name", ["plots.csv", "plots.tsv"])
def test_a_truncated_csv_stops_the_run_naming_the_file(tmp_path, name):
    frame = own_data.plots()
    path = tmp_path / name
    frame.to_csv(path, index=False, sep="\t" if name.endswith(".tsv") else ",")
    data = path.read_bytes()
    cut = data[: int(len(data) * 0.6)]
    path.write_bytes(cut[: cut.rindex(b"\n") + 12])  # a short last line, no final newline
    with pytest.raises(ValueError, match=f"{name} is cut short"):
        read_sample_table(path)
    with pytest.raises(ValueError, match=f"{name} is cut short"):
        read_table(path)
    path.write_bytes(data.rstrip(b"\n"))  # every field of the last line, no final newline
    table = read_sample_table(path)
    assert len(table.frame) == len(frame) and table.unterminated


def test_a_table_without_its_final_newline_is_a_counted_warning_with_its_row_count(
    tmp_path, caplog
):
    """Cut inside its last field: every field is there, so only the missing newline says so
    (and the local source's record of the file's size and sha256, below)."""
    path = own_data.write_table(own_data.plots(), tmp_path / "plots.csv")
    data = path.read_bytes()
    line_end = data.index(b"\n", int(len(data) * 0.6))
    path.write_bytes(data[: line_end - 1])  # cut 60 % in, inside a last field: one digit gone
    with caplog.at_level(logging.WARNING):
        _, quality = tokenize_generic(
            tmp_path,
            progress=False,
            **options(table="plots.csv", modalities=only("climate"), coordinates="none"),
        )
    rows = data[:line_end].count(b"\n")  # the header's line, then each full row's
    (issue,) = issues(quality, "samples").query("reason == 'no_final_newline'").itertuples()
    assert issue.detail.startswith(f"{rows} rows read") and issue.path == str(path)
    (console,) = [r for r in caplog.records if getattr(r, CONSOLE, False)]
    assert f"{path} has no final newline: {rows} rows read" in console.getMessage()


@pytest.mark.parametrize("name", ["plots.csv", "plots.gpkg", "plots.parquet"])
def test_an_empty_table_stops_saying_so(tmp_path, name):
    (tmp_path / name).write_bytes(b"")
    with pytest.raises(
        InputError, match=f"table {tmp_path / name}: the file is empty \\(0 bytes\\)"
    ):
        read_sample_table(tmp_path / name)
    if name.endswith(".csv"):
        with pytest.raises(InputError, match="the file is empty"):
            read_table(tmp_path / name)


def test_a_raster_of_another_region_stops_at_the_health_gate_saying_why(dataset, tmp_path, caplog):
    root = tmp_path / "plots"
    shutil.copytree(dataset, root)
    own_data.write_dem(root / "dem.tif", shift_m=2_000_000.0)  # 2,000 km east of the plots
    with caplog.at_level(logging.WARNING):
        tokens, quality = tokenize_generic(
            root, progress=False, **options(modalities=only("climate", "terrain"))
        )
    assert not tokens.modality("terrain").present.any()
    health = modality_health(tokens, quality.frame())
    with pytest.raises(ModalityHealthError) as error:
        check_health(health, "my-plots", allow_absent=[])
    message = str(error.value)
    assert "modality 'terrain' never arrived" in message and "out_of_range 60" in message
    assert "datasets.my-plots.allow_absent" in message
    # Why: the raster's CRS and extent, against the points
    assert re.search(
        r"dem.tif \(lon [-\d.]+, lat [-\d.]+ lies outside the raster \(EPSG:3035, x 6\.08e\+06 to "
        r"6\.42e\+06, y 2\.44e\+06 to 2\.72e\+06\); 60 of 60 points do\)",
        message,
    ), message
    (warning,) = [r for r in caplog.records if getattr(r, CONSOLE, False)]
    assert warning.getMessage().startswith(f"terrain: all 60 points lie outside {root / 'dem.tif'}")
    (note,) = check_health(health, "my-plots", allow_absent=["terrain"])
    assert note.startswith("terrain: never arrived") and "allow_absent" in note
    assert note.endswith("its columns show no data of it, and avg averages them.")
    with pytest.raises(ModalityHealthError, match="not modalities"):
        check_health(health, "my-plots", allow_absent=["terrian"])


def test_mostly_rejected_files_stop_and_low_presence_is_a_note():
    health = [
        {"modality": "tiles", "presence": 0.7, "rejected": 0.25, "reasons": {}, "examples": []},
        {"modality": "calls", "presence": 0.4, "rejected": 0.0, "reasons": {}, "examples": []},
    ]
    with pytest.raises(ModalityHealthError, match="25% of the files that exist were rejected"):
        check_health(health, "d", [])
    assert check_health(health, "d", [], HealthGate(max_rejected=0.3)) == [
        "calls is present in only 40% of the samples."
    ]


def test_the_health_gate_defaults_are_the_schemas():
    schema = yaml.safe_load(SCHEMA.read_text())["properties"]["health_gate"]["properties"]
    assert {k: v["default"] for k, v in schema.items()} == dataclasses.asdict(HealthGate())


def test_categorical_levels_and_the_other_level(dataset):
    modality = {"from": "categorical", "columns": ["ecoregion", "site"], "max_levels": 2}
    tokens, quality = tokenize_generic(
        dataset, progress=False, **options(modalities={"categories": modality})
    )
    m = tokens.modality("categories")
    assert m.token_names == ["ecoregion", "site"]
    assert m.token_dim == 3 + 3  # two kept levels and "(other)" per column, in blocks
    assert (m.values.sum(axis=2)[m.present] == 1).all()  # one-hot
    assert (m.values[:, 0, 3:] == 0).all() and (m.values[:, 1, :3] == 0).all()
    assert not m.present[4, 0]  # the empty ecoregion
    assert issues(quality, "categories")["detail"].tolist() == ["ecoregion"]


def test_text_in_a_numeric_modality_points_to_categorical(dataset):
    modality = {"from": "columns", "columns": ["bio1", "ecoregion"]}
    with pytest.raises(ValueError, match=r"ecoregion.*from: categorical"):
        tokenize_generic(dataset, progress=False, **options(modalities={"m": modality}))


def test_raster_nodata_and_points_off_the_raster(dataset, tokenized):
    tokens, quality = tokenized
    terrain = issues(quality, "terrain")
    assert set(terrain["reason"]) == {"nan_values"}  # the nodata hole
    assert (~tokens.modality("terrain").present[:, 0]).sum() == len(terrain)
    present = tokens.modality("terrain")
    assert (present.values[present.present] > 400).all()


@pytest.mark.parametrize(
    ("table", "coordinates"),
    [
        ("plots.csv", {"x": "easting", "y": "northing", "crs": own_data.UTM}),
        ("plots.csv.gz", {"x": "easting", "y": "northing", "crs": own_data.UTM}),
        ("plots.parquet", {"x": "easting", "y": "northing", "crs": own_data.UTM}),
        ("plots.geo.parquet", "auto"),
        ("plots.geojson", "auto"),
        ("plots.shp", "auto"),
    ],
)
def test_every_table_format_gives_the_same_tokens(tokenized, dataset, tmp_path, table, coordinates):
    own_data.write_table(own_data.plots(), tmp_path / table)
    shutil.copy(dataset / "dem.tif", tmp_path / "dem.tif")
    read = options(table=table, coordinates=coordinates, modalities=only(*TABLE_MODALITIES))
    tokens, _ = tokenize_generic(tmp_path, progress=False, **read)
    reference = tokenized[0]
    np.testing.assert_array_equal(tokens.targets, reference.targets)
    np.testing.assert_allclose(tokens.samples[["lon", "lat"]], reference.samples[["lon", "lat"]])
    for name in TABLE_MODALITIES:
        mine, theirs = tokens.modality(name), reference.modality(name)
        assert mine.token_names == theirs.token_names
        np.testing.assert_array_equal(mine.present, theirs.present)
        np.testing.assert_allclose(mine.values, theirs.values, rtol=1e-6, atol=1e-5)


def test_presence_labels_long_and_wide(tmp_path):
    plots = own_data.plots()
    wide = plots.drop(columns="species").assign(other=(plots.species == "Picea abies") * 1)
    own_data.write_table(wide, tmp_path / "wide.csv")
    climate = only("climate")
    label = {"kind": "species_columns", "columns": ["present", "other"]}
    tokens, _ = tokenize_generic(
        tmp_path / "wide.csv", progress=False, id="plot_id", label=label, modalities=climate
    )
    assert tokens.task == "multilabel" and tokens.class_names == ["other", "present"]
    # one row per (plot, species present), as GBIF-style occurrence tables
    long = plots.loc[plots.index.repeat(2)].reset_index(drop=True)
    long.loc[1::2, "species"] = "Sorbus aucuparia"
    own_data.write_table(long, tmp_path / "long.csv")
    label = {"kind": "presence", "species": "species"}
    tokens, _ = tokenize_generic(
        tmp_path / "long.csv", progress=False, id="plot_id", label=label, modalities=climate
    )
    assert tokens.n_samples == 60 and tokens.targets.shape == (60, 4)
    assert (tokens.targets[:, tokens.class_names.index("Sorbus aucuparia")] == 1).all()


def test_a_table_without_coordinates_splits_at_random_but_not_spatially(tmp_path):
    own_data.write_table(own_data.plots().drop(columns=["easting", "northing"]), tmp_path / "t.csv")
    tokens, _ = tokenize_generic(
        tmp_path / "t.csv",
        progress=False,
        id="plot_id",
        label={"kind": "classes", "column": "species"},
        modalities=only("climate", "tmax"),
    )
    assert tokens.samples[["lon", "lat"]].isna().all().all()
    split = split_samples(tokens.samples, kind="random", seed=0)
    assert {s: (split == s).sum() for s in ("train", "val", "test")} == {
        "train": 42,
        "val": 9,
        "test": 9,
    }
    with pytest.raises(ValueError, match=r"spatial split needs coordinates.*kind: random"):
        split_samples(tokens.samples, kind="spatial")
    with pytest.raises(ValueError, match=r"where: the sample table .* gives no coordinates"):
        tokenize_generic(
            tmp_path / "t.csv",
            progress=False,
            id="plot_id",
            label={"kind": "classes", "column": "species"},
            modalities={"where": {"from": "location"}},
        )


def test_split_kinds_and_block_units(tokenized, caplog):
    samples = tokenized[0].samples
    groups = split_samples(samples, kind="group", seed=1)
    for _, split in pd.Series(groups).groupby(samples["group"].to_numpy()):
        assert split.nunique() == 1  # a site is never cut
    # 50 km blocks on the ground over a 300 x 250 km area: a few dozen
    metres = split_samples(samples, kind="spatial", block_size=50_000, units="metres")
    assert set(metres) == {"train", "val", "test"}
    with caplog.at_level(logging.WARNING, logger="miam.core.split"):
        split_samples(samples, kind="spatial", block_size=0.01)
    assert "close to a random split" in caplog.text


# --- damaged inputs ---------------------------------------------------------------------------


def truncate(path: Path, share: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * share)])


@pytest.mark.parametrize("table", ["plots.csv.gz", "plots.gpkg", "plots.parquet", "plots.geojson"])
def test_a_damaged_sample_table_stops_with_its_name(tmp_path, table):
    own_data.write_table(own_data.plots(), tmp_path / table)
    truncate(tmp_path / table, 0.5)
    with pytest.raises(ValueError, match=f"cannot read the sample table {tmp_path / table}"):
        tokenize_generic(
            tmp_path, progress=False, **options(table=table, modalities=only("climate"))
        )


def test_a_damaged_csv_gz_in_the_tabular_reader_names_the_file(tmp_path):
    path = tmp_path / "bio.csv.gz"
    path.write_bytes(gzip.compress(own_data.plots().to_csv(index=False).encode()))
    truncate(path, 0.6)
    with pytest.raises(ValueError, match=str(path)):
        read_table(path)
    path.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match=str(path)):
        read_table(path)


def test_damaged_per_sample_files_and_rasters_become_absent_tokens(dataset, tmp_path):
    root = tmp_path / "plots"
    shutil.copytree(dataset, root)
    # a tile cut at 90 % of its bytes: decoded in full, so detected whatever the window
    easting, northing = own_data.plots().loc[1, ["easting", "northing"]]
    own_data.write_tile(root / "tiles" / "P001.tif", easting, northing, 1, False)
    truncate(root / "tiles" / "P001.tif", 0.9)
    (root / "tiles" / "P002.tif").write_bytes(b"II*\x00 not a tiff")
    truncate(root / "calls" / "P003.wav", 0.5)
    truncate(root / "dem.tif", 0.3)
    photos = root / "photos"
    photos.mkdir()
    for i in range(4):
        Image.fromarray(np.full((30 + 7 * i, 50, 3), 40 * i, np.uint8)).save(
            photos / f"P{i:03d}.png"
        )
    truncate(photos / "P001.png", 0.5)
    modalities = only("tiles", "calls", "terrain")
    modalities["photos"] = {
        "from": "files",
        "folder": "photos",
        "type": "image",
        "size": 16,
        "patch": 8,
    }
    tokens, quality = tokenize_generic(root, progress=False, **options(modalities=modalities))
    corrupt = issues(quality).query("reason == 'corrupt_file'")
    assert {("tiles", "P001"), ("tiles", "P002"), ("calls", "P003"), ("photos", "P001")} <= set(
        zip(corrupt["modality"], corrupt["sample_id"], strict=True)
    )
    assert not tokens.modality("tiles").present[[1, 2]].any()
    assert not tokens.modality("calls").present[3].any()
    photos_present = tokens.modality("photos").present[:, 0]
    assert photos_present[[0, 2, 3]].all() and not photos_present[1]  # any size, resized
    # the raster cut at 30 %: a point in a block past the cut is absent and recorded, one in an
    # intact block is read
    terrain = issues(quality, "terrain").set_index("sample_id")
    present = tokens.modality("terrain").present[:, 0]
    recorded = tokens.samples["sample_id"].isin(terrain.index).to_numpy()
    assert (present ^ recorded).all()
    assert (terrain["reason"] == "corrupt_file").sum() > 30


def test_a_raster_that_cannot_be_opened_makes_its_tokens_absent(dataset, tmp_path):
    root = tmp_path / "plots"
    shutil.copytree(dataset, root)
    truncate(root / "dem.tif", 0.001)
    tokens, quality = tokenize_generic(root, progress=False, **options(modalities=only("terrain")))
    assert tokens.modality("terrain").token_names == ["dem"]
    assert not tokens.modality("terrain").present.any()
    assert quality.counts() == {"terrain": {"corrupt_file": 60}}


def test_fixed_layout_tiles_cut_short_are_detected(tmp_path):
    """A 128 px tile cut at 80-99 % used to be read silently: only its centre was decoded."""
    tile = np.random.default_rng(0).integers(0, 255, (4, 128, 128), dtype=np.uint8)
    path = tmp_path / "t.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=128,
        height=128,
        count=4,
        dtype="uint8",
        crs="EPSG:4326",
        transform=from_origin(5, 45, 1e-4, 1e-4),
        compress="deflate",
    ) as dst:
        dst.write(tile)
    data = path.read_bytes()
    quality = QualityLog()
    assert read_tile(data, quality, "satellite", 1, label="t") is not None
    for share in (0.8, 0.9, 0.99):
        assert read_tile(data[: int(len(data) * share)], quality, "satellite", 1, label="t") is None
    assert quality.counts() == {"satellite": {"corrupt_file": 3}}


def test_five_band_tiles_have_band_names():
    """`satellite_bands: 5` used to fail with an AssertionError naming no file."""
    values, _, names = patch_tokens(
        np.zeros((2, 5, 64, 64), np.uint8), np.ones(2, bool), per_band=True, bands=band_names(5)
    )
    assert values.shape == (2, 5 * 16, 256) and names[0] == "b1/r0c0"


# --- a local source -----------------------------------------------------------------------------


def test_local_files_are_checksummed_in_place_and_a_changed_file_stops(dataset, tmp_path):
    root = tmp_path / "plots"
    shutil.copytree(dataset, root)
    manifest = tmp_path / "source" / "manifest.json"
    content = write_manifest(root, manifest)
    assert len(content["files"]) == 1 + 1 + 54 + 54
    assert content["files"]["dem.tif"]["bytes"] == (root / "dem.tif").stat().st_size
    os.remove(manifest)  # as Snakemake does before a job
    assert write_manifest(root, manifest) == content  # touched, not changed: goes on
    os.remove(manifest)
    (root / "calls" / "P000.wav").write_bytes(b"changed")
    (root / "calls" / "P001.wav").unlink()
    record = manifest.with_name("recorded_manifest.json")
    with pytest.raises(InputError) as stopped:
        write_manifest(root, manifest)
    assert str(stopped.value).startswith(
        f"source.path {root}: the files differ from those recorded on first use (1 changed: "
        f"calls/P000.wav; 1 gone: calls/P001.wav; sizes and sha256 in {record})"
    )
    record.unlink()  # accepts them
    assert "calls/P001.wav" not in write_manifest(root, manifest)["files"]


# --- checks made when the workflow parses --------------------------------------------------------


def config_with(dataset: dict) -> dict:
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["datasets"] = {"plots": dataset}
    return config


def own_dataset(**changes) -> dict:
    dataset = {
        "source": {"kind": "local", "path": "data/plots"},
        "reader": "generic",
        "reader_options": copy.deepcopy(own_data.READER_OPTIONS),
        "subsets": {
            "climate": {"climate": "all"},
            "all": dict.fromkeys(own_data.READER_OPTIONS["modalities"], "all"),
        },
        "split": {"kind": "group"},
    }
    dataset.update(changes)
    return dataset


def check(config: dict) -> None:
    validate(config, str(SCHEMA))
    pipeline.check_config(config)


def test_a_config_alone_declares_a_dataset():
    config = config_with(own_dataset())
    check(config)
    assert pipeline.modalities(config["datasets"]["plots"]) == list(
        own_data.READER_OPTIONS["modalities"]
    )
    assert pipeline.comparison_notes(config["datasets"]["plots"]) == []


GEOPLANT = {"source": {"kind": "synthetic", "generator": "geoplant"}, "reader": "geoplant"}


def context(pattern: str) -> dict:
    return {"modality": "timeseries", "token_pattern": pattern, "years": [2000, 2018]}


BAD = [
    (
        {**GEOPLANT, "reader_options": {"min_occurence": 3}, "modality_subsets": True},
        r"datasets.plots.reader_options: unknown option\(s\) min_occurence for the geoplant reader",
    ),
    (
        {**GEOPLANT, "subsets": {"s2": {"satellite": ["r5c5"]}}},
        r"datasets.plots.subsets.s2.satellite: 'r5c5' matches no token",
    ),
    (
        {**GEOPLANT, "modality_subsets": True, "climate_context": context("climate/{yr}")},
        r"climate_context.token_pattern: 'climate/\{yr\}' needs exactly one \{year\}",
    ),
    (
        {**GEOPLANT, "modality_subsets": True, "climate_context": context("clim/{year}")},
        "no token clim/2000",
    ),
    (own_dataset(reader_options={**own_data.READER_OPTIONS, "colour": 1}), "colour"),
    (own_dataset(subsets={"c": {"climate": ["bio7"]}}), r"subsets.c.climate: 'bio7' matches no"),
    (own_dataset(subsets={"c": {"tiles": ["r9c9"]}}), r"subsets.c.tiles: 'r9c9' matches no"),
    (
        own_dataset(reader_options=options(modalities={"m": {"from": "colums", "columns": ["a"]}})),
        r"'colums' is not one of",
    ),
    (
        own_dataset(
            reader_options=options(modalities={"m": {"from": "series", "pattern": "tmax"}})
        ),
        r"modalities.m.pattern: the pattern 'tmax' needs exactly one \{field\}",
    ),
    (
        own_dataset(reader_options=options(coordinates="none"), split={"kind": "spatial"}),
        "modalities.terrain: a raster modality needs coordinates",
    ),
    (
        own_dataset(
            reader_options=options(coordinates="none", modalities=only("climate")),
            subsets={"c": {"climate": "all"}},
            split={"kind": "spatial"},
        ),
        "split.kind: a spatial split needs coordinates",
    ),
    (own_dataset(split={"kind": "spatial", "block_size": 50_000}), "units: metres"),
    ({**GEOPLANT, "modality_subsets": True, "split": {"kind": "group"}}, "group split needs"),
    (own_dataset(source={"kind": "local"}), "a local source needs `path`"),
    (own_dataset(contributions={"strategies": ["miamm"]}), r"strategies: 'miamm' is not a"),
    (
        own_dataset(contributions={"analyses": {"x": {"modality": "sound", "groups": "{*}"}}}),
        "analyses.x.modality: 'sound'",
    ),
]


@pytest.mark.parametrize(("dataset", "message"), BAD)
def test_mistakes_are_refused_when_the_workflow_parses_naming_the_key(dataset, message):
    with pytest.raises((ValueError, WorkflowError), match=message):
        check(config_with(dataset))


def on_disk(dataset: Path, table: str = "plots.gpkg", **changes) -> dict:
    """own_dataset(...) read from the files in `dataset` (so its table's header is checked)."""
    options = {**own_data.READER_OPTIONS, "table": table, **changes.pop("reader_options", {})}
    source = {"kind": "local", "path": str(dataset)}
    return own_dataset(source=source, reader_options=options, **changes)


# Mistakes that the sample table's header shows, refused when the workflow parses
HEADER_MISTAKES = [
    (
        {"reader_options": {"label": {"kind": "classes", "column": "speces"}}},
        r"reader_options.label.column: the sample table .*plots.gpkg has no column 'speces' "
        r"\(did you mean `species`\?\)",
    ),
    (
        {"reader_options": {"modalities": {"c": {"from": "columns", "columns": ["bio*", "sol*"]}}}},
        r"reader_options.modalities.c.columns: the sample table .* has no column matching 'sol\*'",
    ),
    (
        {"reader_options": {"modalities": {"t": {"from": "series", "pattern": "tmin_{year}"}}}},
        r"reader_options.modalities.t.pattern: .* has no column matching 'tmin_\{year\}'",
    ),
    ({"reader_options": {"group": "plot"}}, r"reader_options.group: .* has no column 'plot'"),
    (
        {"table": "no_coordinates.csv", "reader_options": {"modalities": only("climate")}},
        r"split.kind: a spatial split needs coordinates, and the sample table "
        r".*no_coordinates.csv has none",
    ),
    (
        {"table": "no_coordinates.csv", "reader_options": {"modalities": only("terrain")}},
        r"modalities.terrain: a raster modality needs coordinates, and the sample table",
    ),
]


@pytest.mark.parametrize(("changes", "message"), HEADER_MISTAKES)
def test_the_sample_tables_header_is_checked_when_the_workflow_parses(
    dataset, tmp_path, changes, message
):
    root = tmp_path / "plots"
    root.mkdir()
    shutil.copy(dataset / "plots.gpkg", root)
    no_coordinates = own_data.plots().drop(columns=["easting", "northing"])
    no_coordinates.to_csv(root / "no_coordinates.csv", index=False)
    subsets = {"subsets": {"c": {"climate": "all"}}, "split": {"kind": "spatial"}}
    config = config_with(on_disk(root, **{**subsets, **changes}))
    if "modalities" in changes.get("reader_options", {}):
        named = changes["reader_options"]["modalities"]
        config["datasets"]["plots"]["subsets"] = {"c": dict.fromkeys(named, "all")}
    with pytest.raises(ValueError, match=message):
        check(config)
    if not changes.get("table"):  # the same options on the table of the fixture parse
        check(config_with(on_disk(dataset, **subsets)))


def test_a_header_mistake_is_one_line_before_any_job(dataset, tmp_path):
    from test_workflow import snakemake

    label = {"kind": "classes", "column": "speces"}
    config = config_with(on_disk(dataset, reader_options={"label": label}))
    path = tmp_path / "own.yaml"
    path.write_text(yaml.safe_dump(config))
    done = snakemake(REPO, "-n", "--configfile", str(path), check=False)
    console = (done.stdout + done.stderr).splitlines()
    assert done.returncode != 0 and len(console) <= 2, console  # and the profile's line
    assert any("label.column: the sample table" in line for line in console)


def test_reader_options_table_matches_the_readers():
    from miam.inputs.tokenize.audio import AudioConfig
    from miam.inputs.tokenize.geoplant import tokenize_geoplant
    from miam.inputs.tokenize.taxabench import tokenize_taxabench

    for reader, function in (("geoplant", tokenize_geoplant), ("taxabench", tokenize_taxabench)):
        parameters = inspect.signature(function).parameters.values()
        table = {
            p.name: p.default
            for p in parameters
            # set by the workflow, never by the config: the shard, and the species of
            # label-free sites (miam.inputs.sites)
            if p.name not in ("root", "shard", "progress", "species")
        }
        assert pipeline.READER_OPTIONS[reader] == table, reader
    assert generic_spec.AUDIO_OPTIONS == {
        f.name: f.default for f in dataclasses.fields(AudioConfig)
    }
    # and the generic reader's trained categorical levels, for sites too
    workflow_set = ("root", "shard", "progress", "species", "levels")
    parameters = inspect.signature(tokenize_generic).parameters
    assert [p for p in parameters if p not in workflow_set] == list(generic_spec.TOP_LEVEL)


def test_declared_tokens_of_the_fixed_readers():
    from miam.inputs.tokenize.satellite import TILE_BANDS, patch_names

    geoplant = pipeline.declared_tokens({**GEOPLANT, "reader_options": {"per_band": True}})
    assert geoplant["satellite"] == patch_names(4, TILE_BANDS)
    assert geoplant["timeseries"][:2] == ["climate/2000", "climate/2001"]
    taxabench = pipeline.declared_tokens(
        {"reader": "taxabench", "reader_options": {"image_patch": 32}}
    )
    assert taxabench["image"] == ["r0c0", "r0c1", "r1c0", "r1c1"]


def test_contributions_need_no_code_for_a_declared_dataset():
    config = config_with(own_dataset())
    analyses = contribution_options(config, "plots")["analyses"]
    assert {a["modality"] for a in analyses.values()} == set(
        own_data.READER_OPTIONS["modalities"]
    ) - {"where"}
    assert analyses["tiles_patches"]["plot"] == "map"
    settings = ContributionSettings.from_dict(contribution_options(config, "plots"), "generic")
    assert len(settings.analysis_list()) == 6


def test_degenerate_comparisons_are_noted():
    subsets = {"a": {"climate": "all"}, "b": {"climate": ["bio1", "bio12"]}}
    one = own_dataset(reader_options=options(modalities=only("climate")), subsets=subsets)
    notes = pipeline.comparison_notes(one)
    assert notes[0].startswith("One modality (climate)")
    assert "Subsets a and b show the same tokens" in notes[1]
    assert pipeline.comparison_note(one).startswith("Degenerate comparison: One modality")


# --- end to end: a dataset added with a config file only -----------------------------------------

E2E_OPTIONS = {
    "table": "plots.gpkg",
    "id": "plot_id",
    "label": {"kind": "classes", "column": "species"},
    "modalities": {
        "covariates": {"from": "columns", "columns": ["bio*"]},
        "terrain": {"from": "raster", "files": ["dem.tif"]},
        "tiles": {"from": "files", "folder": "tiles", "type": "tile", "patch": 8},
    },
}


@pytest.mark.workflow
def test_a_dataset_added_by_config_alone_runs_to_a_main_table(tmp_path):
    from test_workflow import copy_repo, snakemake

    data = own_data.write_dataset(tmp_path / "my-plots", n=120)
    # New plots to predict, in the training table's format without the label columns.
    new_plots = own_data.plots(10, seed=1).drop(columns=["species", "present"])
    own_data.write_table(new_plots.assign(plot_id=[f"N{i}" for i in range(10)]), data / "new.gpkg")
    workdir = copy_repo(tmp_path / "repo")
    config = {
        "seeds": [0],
        "datasets": {
            "my-plots": {
                "source": {"kind": "local", "path": str(data)},
                "reader": "generic",
                "reader_options": E2E_OPTIONS,
                "split": {"kind": "spatial", "block_size": 50_000, "units": "metres"},
                "subsets": {
                    "covariates": {"covariates": "all"},
                    "tiles": {"tiles": "all"},
                    "all": {"covariates": "all", "terrain": "all", "tiles": "all"},
                    # the same column twice: a degenerate comparison, said in the run and table
                    "everything": {"tiles": "all", "terrain": "all", "covariates": "all"},
                },
                "oracles": False,
                "predict": {
                    "sites": {
                        "new": {"kind": "table", "table": "new.gpkg"},
                        # the DEM's extent (EPSG:3035) at 20 km
                        "dem": {
                            "kind": "grid",
                            "bbox": [4_080_000, 2_440_000, 4_420_000, 2_720_000],
                            "resolution": 20_000,
                            "crs": "EPSG:3035",
                        },
                    }
                },
            }
        },
        "strategies": {"uniform": {"kind": "uniform"}, "miam": {"kind": "miam"}},
        "model": {"dim": 16, "depth": 1, "heads": 2, "ffn_dim": 32, "n_frequencies": 4},
        "training": {"epochs": 1, "batch_size": 32, "threads": 1},
        "jobs": {"runs_per_job": 64},
    }
    path = tmp_path / "my-plots.yaml"
    path.write_text(yaml.safe_dump(config))
    target = "results/my-plots/tables/main.md"
    run = [target, "--configfile", str(path)]  # --configfile takes every word after it
    done = snakemake(workdir, *run)
    assert "Subsets all and everything show the same tokens" in done.stderr
    results = workdir / "results" / "my-plots"
    main = (results / "tables" / "main.md").read_text()
    assert all(row in main for row in ["uniform", "miam", "late_fusion"])
    assert all(column in main for column in ["covariates", "tiles", "all", "avg"])
    assert "_Degenerate comparison: Subsets all and everything show the same tokens" in main
    manifest = yaml.safe_load((results / "source" / "manifest.json").read_text())
    assert "dem.tif" in manifest["files"] and not (results / "raw").exists()  # read in place
    quality = yaml.safe_load((results / "quality" / "summary.json").read_text())
    assert quality["counts"]["tiles"]["missing_file"] == 12
    # The predict block alone predicts the new plots and a grid over the DEM.
    snakemake(workdir, "predict", "--configfile", str(path))
    new = pd.read_parquet(results / "predictions" / "new" / "sites.parquet")
    assert len(new) == 10 * 2 * 4  # sites x models x scenarios (all inputs, without each)
    assert not new["has:tiles"].any() and new["has:covariates"].all()  # no tiles for new ids
    with rasterio.open(results / "predictions" / "dem" / "maps" / "richness.tif") as raster:
        assert raster.crs.to_epsg() == 3035 and raster.shape == (14, 17)
    assert "<img" in (results / "reports" / "maps.html").read_text()
    # Nothing is left to do; a changed file redoes the checksums and what depends on them.
    assert "Nothing to be done" in snakemake(workdir, "-n", *run).stdout
    own_data.write_call(data / "calls" / "P000.wav", 16_000, 0.5, 300)
    plan = snakemake(workdir, "-n", *run).stdout
    assert "checksum_source" in plan
    # ... and, the file being another than the one recorded on first use, stops the run.
    changed = snakemake(workdir, *run, check=False)
    console = changed.stdout + changed.stderr
    assert changed.returncode != 0 and "Traceback" not in console
    assert console.count("the files differ from those recorded on first use (1 changed: ") == 1


@pytest.mark.workflow
def test_a_modality_that_never_arrived_stops_the_run_unless_allowed(tmp_path):
    """A raster of another region: 100 % out_of_range. The run stops before any training,
    naming the modality and the reason; with allow_absent it runs and main.md says so."""
    from test_workflow import copy_repo, snakemake

    data = own_data.write_dataset(tmp_path / "my-plots", n=60)
    own_data.write_dem(data / "dem.tif", shift_m=2_000_000.0)
    workdir = copy_repo(tmp_path / "repo")
    dataset = {
        "source": {"kind": "local", "path": str(data)},
        "reader": "generic",
        "reader_options": {**E2E_OPTIONS, "modalities": only_e2e("covariates", "terrain")},
        "split": {"kind": "random"},
        "subsets": {
            "covariates": {"covariates": "all"},
            "all": {"covariates": "all", "terrain": "all"},
        },
        "oracles": False,
    }
    config = {
        "seeds": [0],
        "datasets": {"my-plots": dataset},
        "strategies": {"uniform": {"kind": "uniform"}},
        "model": {"dim": 8, "depth": 1, "heads": 2, "ffn_dim": 16, "n_frequencies": 4},
        "training": {"epochs": 1, "batch_size": 32, "threads": 1},
        "jobs": {"runs_per_job": 64},
    }
    path = tmp_path / "my-plots.yaml"
    path.write_text(yaml.safe_dump(config))
    run = ["results/my-plots/tables/main.md", "--configfile", str(path)]
    stopped = snakemake(workdir, *run, check=False)
    assert stopped.returncode != 0
    log = (workdir / "results/my-plots/logs/tokenize/gather.log").read_text()
    assert "modality 'terrain' never arrived" in log and "out_of_range 60" in log
    assert "datasets.my-plots.allow_absent" in log
    # On the console: why, once, without a traceback; the file it names is there.
    console = stopped.stdout + stopped.stderr
    assert console.count("modality 'terrain' never arrived") == 1 and "Traceback" not in console
    assert "terrain: all 60 points lie outside" in console
    named = "results/my-plots/logs/tokenize/issues.csv"
    assert f"({named} lists every issue.)" in console
    assert (pd.read_csv(workdir / named)["reason"] == "out_of_range").sum() == 60
    assert not (workdir / "results/my-plots/train").exists()  # stopped before any training

    dataset["allow_absent"] = ["terrain"]
    path.write_text(yaml.safe_dump(config))
    done = snakemake(workdir, *run)
    assert "WARNING: my-plots: terrain: never arrived" in done.stderr
    main = (workdir / "results/my-plots/tables/main.md").read_text()
    assert "terrain: never arrived (absent for every sample)" in main
    assert "let through by allow_absent" in main


def only_e2e(*names: str) -> dict:
    return {n: E2E_OPTIONS["modalities"][n] for n in names}


def test_local_sources_plan_a_checksum_job_sized_by_attempt_on_a_cpu_node(dataset, tmp_path):
    from test_workflow import dry_run

    config = config_with(own_dataset(source={"kind": "local", "path": str(dataset)}))
    path = tmp_path / "own.yaml"
    path.write_text(yaml.safe_dump(config))
    plans = [dry_run(str(path), *args) for args in [(), ("--attempt", "2"), ("--profile", "slurm")]]
    first, second, cluster = (
        next(job for job in plan if job.rule == "checksum_source") for plan in plans
    )
    assert first.output == "results/plots/source/manifest.json"
    for name in ["mem_mb", "runtime"]:
        assert int(second.resources[name]) == 2 * int(first.resources[name])
    profile = yaml.safe_load((REPO / "slurm" / "config.yaml").read_text())
    cpu_partition = profile["set-resources"]["checksum_source"]["slurm_partition"]
    assert cluster.resources["slurm_partition"] == cpu_partition
    assert cluster.resources["gpu"] == "0"
    assert not any(job.rule == "generate_dataset" for job in plans[0])
