"""A small dataset as an ecologist would have it on disk, in the real formats, for the generic
reader's tests and the end-to-end run of a dataset added by config alone.

    plots.gpkg        point table in UTM 32N (EPSG:32632): plot_id, site, bio1, bio12, ecoregion
                      (categorical text), tmax_2001..tmax_2004, species (one per plot), present
    dem.tif           float32 raster in ETRS89-LAEA (EPSG:3035) with a nodata hole
    tiles/<id>.tif    float32 5-band tiles in EPSG:32632 around each plot, nodata in a corner of
                      some; a few plots have none
    calls/<id>.wav    recordings at 44.1 kHz and 32 kHz; a few plots have none

The species depends on bio1 and the ecoregion, so models have something to learn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
import soundfile
from rasterio.transform import from_origin

SPECIES = ["Abies alba", "Fagus sylvatica", "Picea abies"]
ECOREGIONS = ["alpine", "continental", "mediterranean"]
YEARS = [2001, 2002, 2003, 2004]
UTM = "EPSG:32632"
LAEA = "EPSG:3035"
TILE_PX, TILE_M = 16, 10.0


def plots(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    easting = rng.uniform(350_000, 650_000, n)
    northing = rng.uniform(5_000_000, 5_250_000, n)
    bio1 = rng.normal(8, 3, n)
    ecoregion = rng.choice(ECOREGIONS, n)
    score = bio1 / 3 + (ecoregion == "alpine") * 2 + rng.normal(0, 0.5, n)
    species = np.array(SPECIES)[np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))]
    frame = pd.DataFrame(
        {
            "plot_id": [f"P{i:03d}" for i in range(n)],
            "site": [f"S{i // 6}" for i in range(n)],
            "easting": easting,
            "northing": northing,
            "bio1": bio1,
            "bio12": rng.normal(900, 200, n),
            "ecoregion": ecoregion,
            "species": species,
            "present": (species == SPECIES[0]).astype(int),
        }
    )
    for k, year in enumerate(YEARS):
        frame[f"tmax_{year}"] = bio1 + 10 + k * 0.3 + rng.normal(0, 0.2, n)
    frame.loc[3, "tmax_2002"] = np.nan  # a missing year
    frame.loc[4, "ecoregion"] = None  # an empty category
    return frame


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """`frame` as a point file in UTM 32N (GeoPackage, GeoJSON, Shapefile or GeoParquet by the
    suffix) or as CSV / Parquet with the easting and northing columns."""
    import geopandas

    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes)
    if suffix in (".gpkg", ".geojson", ".shp", ".geo.parquet"):
        points = geopandas.points_from_xy(frame["easting"], frame["northing"], crs=UTM)
        table = geopandas.GeoDataFrame(frame.drop(columns=["easting", "northing"]), geometry=points)
        if suffix == ".geo.parquet":
            table.to_parquet(path)
        else:
            table.to_file(path)
    elif suffix.endswith(".parquet"):
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    return path


def write_dem(path: Path, nodata_hole: bool = True, shift_m: float = 0.0) -> Path:
    """A float32 elevation raster in EPSG:3035 covering the plots, nodata in its north-west;
    `shift_m` east of that, it covers another region (none of the plots)."""
    width, height, cell = 170, 140, 2_000.0
    west, north = 4_080_000.0 + shift_m, 2_720_000.0
    rows, cols = np.mgrid[0:height, 0:width]
    elevation = (500 + 5 * rows + 2 * cols).astype(np.float32)
    if nodata_hole:
        elevation[:40, :40] = -9999
    with rasterio.open(
        path, "w", driver="GTiff", width=width, height=height, count=1, dtype="float32",
        crs=LAEA, transform=from_origin(west, north, cell, cell), nodata=-9999,
    ) as dst:  # fmt: skip
        dst.write(elevation, 1)
    return path


def write_tile(path: Path, easting: float, northing: float, seed: int, nodata_corner: bool):
    """A float32 5-band GeoTIFF in UTM 32N centred on the plot, nodata -1 in one corner."""
    rng = np.random.default_rng(seed)
    values = rng.uniform(0, 0.4, (5, TILE_PX, TILE_PX)).astype(np.float32)
    if nodata_corner:
        values[:, :4, :4] = -1
    half = TILE_PX * TILE_M / 2
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path, "w", driver="GTiff", width=TILE_PX, height=TILE_PX, count=5, dtype="float32",
        crs=UTM, transform=from_origin(easting - half, northing + half, TILE_M, TILE_M),
        nodata=-1, compress="deflate",
    ) as dst:  # fmt: skip
        dst.write(values)


def write_call(path: Path, rate: int, seconds: float, pitch: float) -> None:
    t = np.arange(int(rate * seconds)) / rate
    signal = 0.3 * np.sin(2 * np.pi * pitch * t).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, signal, rate)


def write_dataset(root: Path, n: int = 60, seed: int = 0, table: str = "plots.gpkg") -> Path:
    """The whole folder (see the module doc); returns `root`."""
    frame = plots(n, seed)
    write_table(frame, root / table)
    write_dem(root / "dem.tif")
    for i, row in frame.iterrows():
        if i % 10 != 7:  # a few plots have no tile
            write_tile(
                root / "tiles" / f"{row.plot_id}.tif", row.easting, row.northing, i, i % 5 == 0
            )
        if i % 10 != 8:  # and no recording
            rate = 44_100 if i % 2 else 32_000
            pitch = 400 + 300 * SPECIES.index(row.species)
            write_call(root / "calls" / f"{row.plot_id}.wav", rate, 0.5, pitch)
    return root


# The reader options of the dataset above, as a user would write them.
READER_OPTIONS = {
    "table": "plots.gpkg",
    "id": "plot_id",
    "group": "site",
    "label": {"kind": "classes", "column": "species"},
    "modalities": {
        "climate": {"from": "columns", "columns": ["bio1", "bio12"]},
        "ecoregion": {"from": "categorical", "columns": ["ecoregion"]},
        "tmax": {"from": "series", "pattern": "tmax_{year}"},
        "terrain": {"from": "raster", "files": ["dem.tif"]},
        "tiles": {"from": "files", "folder": "tiles", "type": "tile", "size": 16, "patch": 8},
        "calls": {
            "from": "files",
            "folder": "calls",
            "type": "audio",
            "sample_rate": 8000,
            "duration": 0.5,
            "n_fft": 256,
            "hop_length": 128,
            "n_mels": 16,
            "time_blocks": 2,
            "freq_bands": 2,
        },
        "where": {"from": "location"},
    },
}
