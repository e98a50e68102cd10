"""synthetic-taxabench: deterministic files in the real TaxaBench-8k layout, openable by the real
libraries, with the planted faults and the documented imbalance."""

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import rasterio
import soundfile
from PIL import Image

from miam.inputs.datasets import synthetic_taxabench as stb
from miam.inputs.tokenize.location import ENVIRONMENT_VARIABLES, lookup_environment


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return stb.generate(tmp_path_factory.mktemp("taxabench") / "tiny", scale="tiny", seed=0)


def digest(folder):
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_same_seed_same_bytes(tiny, tmp_path):
    again = stb.generate(tmp_path / "again", scale="tiny", seed=0)
    assert digest(again) == digest(tiny)


def test_observation_table_has_the_real_columns(tiny):
    table = pd.read_csv(tiny / "test_df.csv")
    assert list(table.columns) == stb.CSV_COLUMNS
    assert len(table) == stb.SCALES["tiny"].n_observations
    assert table["id"].is_unique
    names = np.load(tiny / "taxa_names.npy")
    assert names.dtype.kind == "U" and len(names) == stb.SCALES["tiny"].n_species
    assert set(table["scientific_name"]) <= set(names)


def test_files_open_with_the_real_libraries(tiny):
    table = pd.read_csv(tiny / "test_df.csv")
    faults = json.loads((tiny / "synthetic_corruptions.json").read_text())
    sample = table[~table["id"].isin(faults.values())].iloc[0]
    with Image.open(tiny / "taxabench_images" / f"{sample.id}.jpg") as image:
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (64, 64))
    with rasterio.open(tiny / "sat_images/sentinel" / f"{sample.id}.tif") as tile:
        assert (tile.count, tile.height, tile.width) == (4, 64, 64)
        assert tile.dtypes[0] == "uint8" and tile.crs.to_epsg() == 4326
        centre_lon, centre_lat = tile.xy(32, 32, offset="ul")
        assert centre_lon == pytest.approx(sample.longitude, abs=1e-4)
        assert centre_lat == pytest.approx(sample.latitude, abs=1e-4)
    with_sound = table[table["sound_url"].notna() & ~table["id"].isin(faults.values())]
    info = soundfile.info(tiny / "taxabench_sound" / f"{with_sound.iloc[0].id}.wav")
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert 1.0 <= info.duration <= 3.5


def test_about_four_in_ten_observations_have_no_recording(tiny):
    table = pd.read_csv(tiny / "test_df.csv")
    n = len(table)
    recorded = {p.stem for p in (tiny / "taxabench_sound").glob("*.wav")}
    assert recorded == set(table.loc[table["sound_url"].notna(), "id"].astype(str))
    share = len(recorded) / n
    # Binomial(n, SOUND_SHARE): four standard deviations either side.
    tolerance = 4 * np.sqrt(stb.SOUND_SHARE * (1 - stb.SOUND_SHARE) / n)
    assert abs(share - stb.SOUND_SHARE) < tolerance


def test_environment_raster_follows_the_real_convention(tiny):
    raster = np.load(tiny / "bioclim_elevation_scaled.npy")
    assert raster.dtype == np.float16 and raster.shape == (360, 720, len(ENVIRONMENT_VARIABLES))
    # Values only around the landscape box (western Europe), z-scored there.
    valid = np.isfinite(raster).all(axis=2)
    assert valid[2 * (90 - 47), 2 * (180 + 2)] and not valid[2 * (90 + 30), 2 * (180 + 100)]
    assert np.abs(raster[valid].astype(float).mean(0)).max() < 1e-2
    # The elevation looked up at an observation is the landscape's, up to the 0.5 degree cell.
    table = pd.read_csv(tiny / "test_df.csv").dropna(subset=["latitude"])
    table = table[table["latitude"].abs() <= 90]
    values = lookup_environment(raster, table["latitude"].to_numpy(), table["longitude"].to_numpy())
    assert np.isfinite(values).all()
    landscape = stb.Landscape(0, stb.DEFAULT_BBOX)
    elevation = landscape.sample(table["longitude"], table["latitude"])["elevation"]
    assert np.corrcoef(values[:, 0], elevation)[0, 1] > 0.8


def test_planted_faults_are_where_the_manifest_says(tiny):
    faults = json.loads((tiny / "synthetic_corruptions.json").read_text())
    assert set(faults) == {
        "truncated_wav",
        "corrupt_image",
        "truncated_tiff",
        "out_of_range_coordinate",
        "empty_csv_cell",
    }
    table = pd.read_csv(tiny / "test_df.csv").set_index("id")
    assert table.at[faults["out_of_range_coordinate"], "latitude"] > 90
    assert np.isnan(table.at[faults["empty_csv_cell"], "latitude"])
    with pytest.raises(OSError):
        Image.open(tiny / "taxabench_images" / f"{faults['corrupt_image']}.jpg").load()
    with pytest.raises(rasterio.errors.RasterioError):
        with rasterio.open(tiny / "sat_images/sentinel" / f"{faults['truncated_tiff']}.tif") as t:
            t.read()


def test_clean_generation_plants_nothing(tmp_path):
    root = stb.generate(tmp_path / "clean", scale="tiny", seed=1, corrupt=False)
    assert json.loads((root / "synthetic_corruptions.json").read_text()) == {}
    table = pd.read_csv(root / "test_df.csv")
    assert table[["latitude", "longitude"]].notna().all().all()
    assert table["latitude"].abs().max() <= 90


def test_unknown_scale_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown scale 'huge'"):
        stb.generate(tmp_path, scale="huge")


def test_look_alike_species_share_an_appearance_and_differ_in_call():
    species = stb.make_species(50, seed=0)
    look = species[["body_shape", "body_colour", "stripe_colour"]].apply(tuple, axis=1)
    twins = species[look.duplicated(keep=False)]
    assert len(twins) == 2 * int(stb.TWIN_SHARE * 50)
    for _, pair in twins.groupby(look[look.duplicated(keep=False)]):
        assert pair["call_frequency"].nunique() == 2
