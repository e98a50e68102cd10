"""GeoPlant presence-absence surveys (real or `synthetic-geoplant`) into a `TokenSet`.

Reads the files where the `layout` of config/datasets/geoplant.yaml says (`miam.inputs.layout`):
the Seafile release, the GLC25 and GLC24 releases and the Kaggle copies, under
``<root>/GeoPlantData/`` or `root` itself. A metadata or environmental table found nowhere stops
the run with every path tried and the YAML key to set. Modalities, in model order:

- ``tabular`` (scalar, one token per variable): ``bio1``..``bio19`` (Climate), ``elevation``,
  ``landcover/1``..``landcover/13`` (LandCover, one token per column), ``soil/<var>`` for
  ``bdod cec cfvo clay nitrogen phh2o sand silt soc`` (SoilGrids). Column names map as
  ``Bio7 -> bio7``, ``Elevation -> elevation``, ``LandCover-3 -> landcover/3``,
  ``Soilgrid-clay -> soil/clay``; any other column is lower-cased (see `tabular_token_name`).
- ``timeseries`` (vector, D = 48, one token per year): ``climate/2000``..``climate/2018``, the
  (4 variables pr, tas, tasmax, tasmin x 12 months) of that year, variable-major; then
  ``landsat/2000``..``landsat/2020``, the (6 bands x 4 quarters) of that year, band-major,
  zero-padded from 24 to 48 values (the last 24 values of a landsat token are always 0).
  One modality, as in the paper; subsets select ``climate/2018`` or ``climate/*`` inside it.
- ``satellite`` (vector): Sentinel-2 patch tokens, see `miam.inputs.tokenize.satellite`; 64 px tiles
  and 16 px patches give ``r0c0``..``r3c3`` (D = 1024) and the centre patch tokens
  ``r1c1 r1c2 r2c1 r2c2`` (`centre_patch_names`). The GeoTIFF release (int16, nodata -1), else
  the JPEG release (RGB + NIR JPEG per survey, 4 bands); a patch with a nodata pixel is absent.

Targets: multilabel (N, C) uint8 over species present in at least `min_occurrences` surveys
(the same rule as the TaxaBench reader's; the paper's "more than 20 occurrences" is
``min_occurrences=21``), optionally only the `max_species` most frequent; class names are the
speciesId values. Samples: one per survey in the metadata, sorted by surveyId. Values are raw
(normalisation statistics come later, from the training split only).

Archives: each is read from its extracted folder when a completed extraction is there
(`miam.inputs.archive.safe_extract`'s marker), else from the zip itself, else from a folder of that
name extracted by other means (the Kaggle copy). An archive found nowhere makes its tokens absent
for every survey, recorded ``missing_file`` with the paths tried (the modality health gate of
`miam.inputs.health` then stops the run).

Sharding: ``shard=(k, n)`` reads the tables whole (cheap) but the cubes and tiles of only the
k-th of n contiguous blocks of surveys (`miam.core.tokens.shard_rows`); species are chosen from all
surveys, so `TokenSet.concat` of the n shards equals the unsharded token set. Surveys dropped for
their coordinates are recorded by shard 0 only.

Bad input: see `miam.inputs.quality`. A survey whose coordinates are missing or outside
[-180, 180] x [-90, 90] is recorded ``out_of_range`` (modality ``samples``) and dropped, since
it cannot be placed in a spatial block. A metadata or environmental table that cannot be read
raises ValueError naming the file.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from miam.core.tokens import Modality, TokenSet, shard_rows
from miam.inputs.layout import find, missing_message, release_layout, require
from miam.inputs.quality import QualityLog
from miam.inputs.tokenize.satellite import TILE_BANDS, TilePairStore, TileStore, patch_tokens
from miam.inputs.tokenize.tabular import read_table, tabular_tokens
from miam.inputs.tokenize.timeseries import CubeStore, year_tokens

log = logging.getLogger(__name__)

CLIMATE_SHAPE, CLIMATE_YEARS = (4, 19, 12), range(2000, 2019)  # variables, years, months
LANDSAT_SHAPE, LANDSAT_YEARS = (6, 4, 21), range(2000, 2021)  # bands, quarters, years
TIMESERIES_DIM = 48
TILE_SIZE = 64

# Environmental tables (keys of the layout), in token order.
ENVIRONMENT_TABLES = ("climate", "elevation", "landcover", "soilgrids")


def tabular_token_name(column: str) -> str:
    """GeoPlant column name -> token name (``Bio7`` -> ``bio7``, ``Soilgrid-clay`` ->
    ``soil/clay``, ``LandCover-3`` -> ``landcover/3``)."""
    for pattern, template in (
        (r"^Bio(\d+)$", "bio{}"),
        (r"^Soilgrid-(\w+)$", "soil/{}"),
        (r"^LandCover-(\d+)$", "landcover/{}"),
    ):
        found = re.match(pattern, column, flags=re.IGNORECASE)
        if found:
            return template.format(found.group(1).lower())
    return column.strip().lower().replace(" ", "_")


def _surveys(metadata: pd.DataFrame, quality: QualityLog, path: Path) -> pd.DataFrame:
    """One row per survey (sorted by surveyId) with valid coordinates; others recorded."""
    surveys = metadata.drop_duplicates("surveyId").sort_values("surveyId")
    valid = surveys["lon"].between(-180, 180) & surveys["lat"].between(-90, 90)
    for row in surveys[~valid].itertuples():
        quality.record(
            "samples", "out_of_range", row.surveyId, path, f"lon {row.lon}, lat {row.lat}: dropped"
        )
    return surveys[valid].reset_index(drop=True)


def _targets(
    metadata: pd.DataFrame, survey_ids: np.ndarray, min_occurrences: int, max_species
) -> tuple[np.ndarray, list[str]]:
    pairs = metadata[["surveyId", "speciesId"]].dropna().drop_duplicates()
    pairs = pairs[pairs["surveyId"].isin(survey_ids)]
    counts = pairs["speciesId"].value_counts()
    kept = counts[counts >= min_occurrences]
    # Most frequent first, ties by id, then the kept species in id order.
    kept = kept.sort_index().sort_values(ascending=False, kind="stable")
    if max_species is not None:
        kept = kept.iloc[:max_species]
    species = np.sort(kept.index.to_numpy())
    if len(species) == 0:
        raise ValueError(f"no species has {min_occurrences} or more occurrences")
    targets = np.zeros((len(survey_ids), len(species)), dtype=np.uint8)
    pairs = pairs[pairs["speciesId"].isin(species)]
    rows = np.searchsorted(survey_ids, pairs["surveyId"].to_numpy())
    cols = np.searchsorted(species, pairs["speciesId"].to_numpy())
    targets[rows, cols] = 1
    return targets, [str(int(s)) if float(s).is_integer() else str(s) for s in species]


def tokenize_geoplant(
    root: str | Path,
    split: str = "train",
    min_occurrences: int = 21,
    patch: int = 16,
    per_band: bool = False,
    max_species: int | None = None,
    shard: tuple[int, int] = (0, 1),
    progress: bool = True,
    layout: dict | None = None,
    species: list[str] | None = None,
) -> tuple[TokenSet, QualityLog]:
    """Tokenize the GeoPlant presence-absence split `split` under `root` (see module doc).

    `shard` = (k, n): only the k-th of n blocks of surveys. `layout`: where each file is (the
    `layout` of a dataset YAML; default: config/datasets/geoplant.yaml's). `species`: read the
    split label-free (the published test surveys have no speciesId) with these class names (a
    trained model's); targets are then all 0.
    """
    data = Path(root)
    layout = release_layout("geoplant", layout)
    names = {"split": split, "Split": split.split("_")[0].capitalize()}
    quality = QualityLog()
    metadata_path = require(data, layout, "metadata", names, "geoplant")
    labelled = ("speciesId",) if species is None else ()
    metadata = read_table(metadata_path, required=("surveyId", "lon", "lat", *labelled))
    # Surveys dropped from the whole table: recorded once, by the first shard.
    surveys = _surveys(metadata, quality if shard[0] == 0 else QualityLog(), metadata_path)
    survey_ids = surveys["surveyId"].to_numpy(dtype=np.int64)
    if species is None:
        targets, class_names = _targets(metadata, survey_ids, min_occurrences, max_species)
    else:
        targets, class_names = np.zeros((len(survey_ids), len(species)), np.uint8), list(species)
    log.info("%d surveys, %d species kept", len(survey_ids), len(class_names))
    rows = shard_rows(len(survey_ids), *shard)
    surveys, survey_ids, targets = surveys.iloc[rows], survey_ids[rows], targets[rows]
    if shard != (0, 1):
        log.info("shard %d of %d: %d surveys", shard[0] + 1, shard[1], len(survey_ids))

    # The tables name the split with a hyphen (PA-test-iid) where the metadata has _.
    table_names = {**names, "split": split.replace("_", "-")}
    tables = []
    for key in ENVIRONMENT_TABLES:
        path = require(data, layout, key, table_names, "geoplant")
        tables.append((path, read_table(path, required=("surveyId",))))
    tab_values, tab_present, tab_names = tabular_tokens(
        tables, survey_ids, "surveyId", tabular_token_name, quality, "tabular"
    )

    stores = _survey_file_stores(data, layout, names)
    timeseries, satellite = _read_survey_files(stores, survey_ids, quality, progress)
    sat_values, sat_present, sat_names = patch_tokens(
        satellite["tiles"], satellite["present"], patch=patch, per_band=per_band, bands=TILE_BANDS
    )
    token_set = TokenSet(
        task="multilabel",
        modalities=[
            Modality("tabular", "scalar", tab_values, tab_present, tab_names),
            Modality("timeseries", "vector", *timeseries),
            Modality("satellite", "vector", sat_values, sat_present, sat_names),
        ],
        targets=targets,
        samples=pd.DataFrame(
            {
                "sample_id": survey_ids.astype(str),
                "lon": surveys["lon"].to_numpy(float),
                "lat": surveys["lat"].to_numpy(float),
            }
        ),
        class_names=class_names,
    )
    return token_set, quality


def _survey_file_stores(data: Path, layout: dict, names: dict) -> dict:
    """Name -> the store of its per-survey files, or the message saying where none was found
    (every survey's tokens of it are then absent, each recorded with that message)."""
    stores = {}
    for name, key in (("climate", "bioclim_cubes"), ("landsat", "landsat_cubes")):
        location, tried = find(data, layout, key, names)
        stores[name] = CubeStore(location) if location else missing_message("geoplant", key, tried)
    nodata = tuple(layout.get("sentinel2_nodata", ()))
    location, tried = find(data, layout, "sentinel2", names)
    if location is not None:
        stores["tiles"] = TileStore(location, nodata=nodata)
        return stores
    rgb, rgb_tried = find(data, layout, "sentinel2_rgb", names)
    nir, nir_tried = find(data, layout, "sentinel2_nir", names)
    if rgb is not None and nir is not None:
        stores["tiles"] = TilePairStore(rgb, nir)
        return stores
    tried += rgb_tried + nir_tried
    stores["tiles"] = missing_message("geoplant", "sentinel2 (or sentinel2_rgb + _nir)", tried)
    return stores


def _read_survey_files(stores: dict, survey_ids, quality: QualityLog, progress: bool):
    """Per-survey cubes and tiles: timeseries (values, present, names) and the tiles."""
    n = len(survey_ids)
    for store in stores.values():
        if isinstance(store, str):
            log.warning("%s", store)
    n_climate, n_landsat = len(CLIMATE_YEARS), len(LANDSAT_YEARS)
    values = np.zeros((n, n_climate + n_landsat, TIMESERIES_DIM), dtype=np.float32)
    present = np.zeros((n, n_climate + n_landsat), dtype=bool)
    tiles = np.zeros((n, len(TILE_BANDS), TILE_SIZE, TILE_SIZE), dtype=np.float32)
    tile_present = np.zeros(n, dtype=bool)
    sources = {
        "climate": (CLIMATE_SHAPE, 1, slice(0, n_climate)),
        "landsat": (LANDSAT_SHAPE, 2, slice(n_climate, n_climate + n_landsat)),
    }
    for i, survey in enumerate(tqdm(survey_ids, desc="GeoPlant files", disable=not progress)):
        for name, (shape, year_axis, columns) in sources.items():
            store = stores[name]
            if isinstance(store, str):
                quality.record("timeseries", "missing_file", survey, detail=store)
                continue
            cube = store.read(survey, shape, quality, "timeseries")
            if cube is None:
                continue
            tokens, year_present = year_tokens(cube, year_axis)
            if not year_present.all():
                years = np.asarray(CLIMATE_YEARS if name == "climate" else LANDSAT_YEARS)
                missing = ",".join(map(str, years[~year_present]))
                quality.record(
                    "timeseries", "nan_values", survey, store.location, f"{name} {missing}"
                )
            values[i, columns, : tokens.shape[1]] = tokens
            present[i, columns] = year_present
        if isinstance(stores["tiles"], str):
            quality.record("satellite", "missing_file", survey, detail=stores["tiles"])
            continue
        tile = stores["tiles"].read(survey, quality, "satellite", size=TILE_SIZE)
        if tile is not None:
            tiles[i], tile_present[i] = tile, True
    for store in stores.values():
        if not isinstance(store, str):
            store.close()
    names = [f"climate/{y}" for y in CLIMATE_YEARS] + [f"landsat/{y}" for y in LANDSAT_YEARS]
    return (values, present, names), {"tiles": tiles, "present": tile_present}
