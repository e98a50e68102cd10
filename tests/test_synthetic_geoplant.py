"""synthetic-geoplant: deterministic files in GeoPlant's real formats, and its imbalance."""

import io
import logging
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import torch

from miam.inputs.datasets.synthetic_geoplant import generate, imbalance_scores, load_manifest
from miam.inputs.tokenize.geoplant import tokenize_geoplant

DATA = "GeoPlantData"
CLIMATE_ZIP = f"{DATA}/TimeSeries/Bioclim/cubes/PA-train-bioclimatic-monthly.zip"
LANDSAT_ZIP = f"{DATA}/TimeSeries/Landsat/cubes/PA-train-landsat-time-series.zip"
TILES_ZIP = f"{DATA}/SatelliteData/Sentinel2Patches-tiff/PA-Train-Sentinel2Patches.zip"


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("geoplant")
    generate(root, "tiny", seed=3, n_surveys=120, processes=1)
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_same_seed_same_bytes_whatever_the_process_count(small, tmp_path):
    generate(tmp_path, "tiny", seed=3, n_surveys=120, processes=2)
    assert _files(small) == _files(tmp_path)


def test_another_seed_other_data(small, tmp_path):
    generate(tmp_path, "tiny", seed=4, n_surveys=120, processes=1)
    name = f"{DATA}/EnvironmentalValues/Climate/PA-train-bioclimatic.csv"
    assert (small / name).read_bytes() != (tmp_path / name).read_bytes()


def test_the_competition_mix_changes_the_species_not_the_landscape(small, tmp_path):
    manifest = generate(
        tmp_path, "tiny", seed=3, n_surveys=120, processes=1, species_mix="competition"
    )
    groups = pd.Series(manifest["species"]).value_counts()
    # tiny has 16 species: round(0.45 * 16) follow the tile's tree cover, none the heatwave.
    assert groups["canopy"] == 7 and "heatwave" not in groups
    assert load_manifest(small)["species_mix"] == "default"
    default, competition = _files(small), _files(tmp_path)
    for archive in (CLIMATE_ZIP, LANDSAT_ZIP, TILES_ZIP):
        assert default[archive] == competition[archive], archive
    metadata = f"{DATA}/PresenceAbsenceSurveys/PA_metadata_train.csv"
    assert default[metadata] != competition[metadata]


def test_tables_have_geoplant_columns(small):
    metadata = pd.read_csv(small / DATA / "PresenceAbsenceSurveys/PA_metadata_train.csv")
    assert list(metadata.columns) == [
        "surveyId", "lon", "lat", "year", "geoUncertaintyInM", "areaInM2", "region", "country",
        "speciesId",
    ]  # fmt: skip
    assert metadata["surveyId"].nunique() == 120
    assert metadata.groupby("surveyId").size().min() >= 1
    bio = pd.read_csv(small / DATA / "EnvironmentalValues/Climate/PA-train-bioclimatic.csv")
    assert list(bio.columns) == ["surveyId"] + [f"Bio{k}" for k in range(1, 20)]
    soil = pd.read_csv(small / DATA / "EnvironmentalValues/SoilGrids/v2/PA-train-soilgrids.csv")
    assert "Soilgrid-phh2o" in soil.columns and len(soil) == 120
    landcover = pd.read_csv(small / DATA / "EnvironmentalValues/LandCover/PA-train-landcover.csv")
    complete = landcover.dropna()  # a few cells are left empty on purpose
    assert len(complete) > 100
    assert np.allclose(complete.iloc[:, 1:].sum(axis=1), 1.0, atol=0.01)


def test_cubes_load_with_weights_only_in_documented_shapes(small):
    for archive, shape in ((CLIMATE_ZIP, (4, 19, 12)), (LANDSAT_ZIP, (6, 4, 21))):
        with zipfile.ZipFile(small / archive) as zipped:
            names = zipped.namelist()
            assert all(n.startswith("GLC25-PA-train-") and n.endswith("_cube.pt") for n in names)
            shapes = set()
            for name in names[:20]:
                try:
                    cube = torch.load(io.BytesIO(zipped.read(name)), weights_only=True)
                except Exception:  # the planted unsafe pickle, refused
                    continue
                shapes.add(tuple(cube.shape))
                assert cube.dtype == torch.float32
            assert shape in shapes


def test_tiles_are_georeferenced_four_band_uint8(small):
    with zipfile.ZipFile(small / TILES_ZIP) as zipped:
        member = zipped.namelist()[0]
    survey = int(Path(member).stem)
    assert member == f"{survey % 100:02d}/{survey // 100 % 100:02d}/{survey}.tiff"
    with rasterio.open(f"zip://{small / TILES_ZIP}!/{member}") as tile:
        assert (tile.count, tile.height, tile.width) == (4, 64, 64)
        assert tile.dtypes == ("uint8",) * 4
        assert tile.crs.to_epsg() == 4326
        metadata = pd.read_csv(small / DATA / "PresenceAbsenceSurveys/PA_metadata_train.csv")
        row = metadata[metadata["surveyId"] == survey].iloc[0]
        centre = tile.xy(32, 32, offset="ul")
        assert centre == pytest.approx((row["lon"], row["lat"]), abs=1e-3)


def test_time_series_dominate_and_weak_modalities_add_what_they_lack(tmp_path):
    logging.disable(logging.WARNING)
    try:
        generate(tmp_path, "tiny", seed=0, n_surveys=1500, processes=1, corrupt=False)
        tokens, _ = tokenize_geoplant(tmp_path, min_occurrences=5, progress=False)
    finally:
        logging.disable(logging.NOTSET)
    combos = {
        "tabular": ["tabular"],
        "timeseries": ["timeseries"],
        "satellite": ["satellite"],
        "timeseries+satellite": ["timeseries", "satellite"],
        "tabular+timeseries": ["tabular", "timeseries"],
    }
    scores = imbalance_scores(tokens, combos, seed=0)
    assert scores["timeseries"] > scores["tabular"] > scores["satellite"] > 0.55, scores
    # What only the weak modalities carry: tree cover (tile) and soil (tables).
    group = load_manifest(tmp_path)["species"]
    of = {g: [i for i, c in enumerate(tokens.class_names) if group[c] == g] for g in group.values()}
    canopy = imbalance_scores(tokens, combos, seed=0, classes=of["canopy"] + of["warm_canopy"])
    assert canopy["timeseries+satellite"] > canopy["timeseries"] + 0.03, canopy
    soil = imbalance_scores(tokens, combos, seed=0, classes=of["soil"])
    assert soil["tabular+timeseries"] > soil["timeseries"] + 0.03, soil
