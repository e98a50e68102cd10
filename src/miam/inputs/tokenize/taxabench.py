"""TaxaBench-8k (real or `synthetic-taxabench`) -> `TokenSet` + `QualityLog`.

Layout read under `root` (REFERENCE.md section 4; the synthetic generator writes the same), as
the `layout` of config/datasets/taxabench.yaml names it (`miam.inputs.layout`)::

    test_df.csv                     observations: id, latitude, longitude, taxon_id,
                                    scientific_name, ... (other columns are ignored)
    taxabench_images/<id>.jpg       ground photo (.jpg, .jpeg or .png)
    taxabench_sound/<id>.m4a        recording (.m4a as shipped, or .wav/.flac/.mp3/.ogg)
    sat_images/sentinel/<id>_<lat>_<lon>.jpeg   satellite RGB tile as on Hugging Face
                                    (or <id>.tif(f) GeoTIFF, as the synthetic generator writes),
                                    found by the ``<id>_`` prefix of its name (the
                                    coordinates in it are the publisher's text), any depth
    bioclim_elevation_scaled.npy    global (H, W, 20) environment raster

Modalities, in model order:

- ``image`` (vector): `image_size` px square photo cut into `image_patch` px patches,
  tokens ``r{i}c{j}``, D = image_patch**2 * 3, pixels in [0, 1] (`miam.inputs.tokenize.image`).
- ``satellite`` (vector): the tile's centre `satellite_size` px window, patch tokens
  ``r{i}c{j}``, D = satellite_bands * satellite_patch**2 (`tokenize.satellite`).
  `satellite_bands` is 4 (R, G, B, NIR GeoTIFFs, the synthetic benchmark) or 3 (the real
  dataset's RGB JPEG tiles); a tile with another band count is ``wrong_shape``.
- ``audio`` (vector): log-mel time-frequency patches ``t{i}f{j}`` in dB (`tokenize.audio`);
  recordings cropped, padded or resampled are counted (``cropped``, ``padded``, ``resampled``).
- ``environment`` (scalar): ``elevation``, ``bio1``..``bio19`` looked up in the raster
  (`miam.inputs.tokenize.location`), values as stored (already z-scored).
- ``location`` (vector): one token ``latlon``, sinusoidal features of lat/lon.

Targets: multiclass (N,) int64 over the kept species, classes ordered by taxon_id, class names
the species' scientific names. Species with at least `min_occurrences` labelled observations are
kept (the same rule as the GeoPlant reader's), then only the `max_species` most frequent when set
(the paper keeps 199 species of the real data; `max_species=199` reproduces that count whatever
threshold they used).

Sharding: ``shard=(k, n)`` tokenizes only the k-th of n contiguous blocks of the kept
observations (`miam.core.tokens.shard_rows`); the species are still chosen from the whole table, so
`TokenSet.concat` of the n shards equals the unsharded token set. Rows dropped for an empty id or
taxon_id are recorded by shard 0 only.

Data quality (never a crash, never silent; recorded per modality and reason):
no file -> ``missing_file`` (the usual case for audio: about 4 in 10 observations have no
recording; the detail says "not on the server" when the downloader listed the file as an HTTP
404 in the folder's ``.miam-download.json``); undecodable image/recording/tile ->
``corrupt_file``; empty latitude/longitude -> ``missing_value`` and coordinates outside the
globe -> ``out_of_range``, both masking location, environment and satellite (the tile was
fetched by those coordinates); raster cell without data -> ``nan_values``; an empty id or
taxon_id drops the row (``missing_value`` under ``observations``).
An observations table that cannot be read raises ValueError naming the file; a file or folder
of the layout found nowhere, ValueError listing the paths tried and the YAML key to set.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from miam.core.errors import InputError
from miam.core.tokens import Modality, TokenSet, shard_rows
from miam.inputs.download import FOLDER_MANIFEST
from miam.inputs.layout import release_layout, require
from miam.inputs.quality import QualityLog, fill_values
from miam.inputs.tokenize.audio import AUDIO_DECODE_ERRORS, AudioConfig, audio_tokens
from miam.inputs.tokenize.image import (
    IMAGE_DECODE_ERRORS,
    image_patch_tokens,
    patch_names,
    read_image,
)
from miam.inputs.tokenize.location import (
    ENVIRONMENT_VARIABLES,
    LOCATION_FREQUENCIES,
    location_features,
    lookup_environment,
    read_environment_raster,
    valid_coordinates,
)
from miam.inputs.tokenize.sample_files import NOT_ON_SERVER, SampleFiles, read_each_file
from miam.inputs.tokenize.satellite import TileStore, band_names, patch_tokens
from miam.inputs.tokenize.tabular import (
    TABLE_READ_ERRORS,
    check_complete,
    warn_unterminated,
)

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
SOUND_SUFFIXES = (".m4a", ".wav", ".flac", ".mp3", ".ogg")
REQUIRED_COLUMNS = ("id", "latitude", "longitude", "taxon_id")
# Modalities derived from the coordinates: masked together when the coordinates are bad.
LOCATED_MODALITIES = ("satellite", "environment", "location")


def read_observations(path: str | Path) -> pd.DataFrame:
    """The observations table with `id` as str; raises InputError naming `path` if unreadable,
    warns when it has no final newline (`check_complete`)."""
    unterminated = check_complete(path)
    try:
        table = pd.read_csv(path, dtype={"id": str, "taxon_id": str}, keep_default_na=True)
    except TABLE_READ_ERRORS as error:
        raise InputError(f"cannot read the TaxaBench observations table {path}: {error}") from error
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(
            f"TaxaBench observations table {path} lacks columns {missing}; "
            f"it has {list(table.columns)}"
        )
    if unterminated:
        warn_unterminated(path, len(table))
    return table


def not_on_server(root: Path, folder: Path) -> dict[str, Path]:
    """Observation id -> path of the files the downloader found missing (HTTP 404) in `folder`.

    Read from the folder's download manifest (`miam.inputs.download`); empty when there is none (a
    synthetic dataset, a copy made by hand). File names start with the id (``<id>.m4a``,
    ``<id>_<lat>_<lon>.jpeg``).
    """
    manifest = folder / FOLDER_MANIFEST
    if not manifest.is_file():
        return {}
    missing = json.loads(manifest.read_text())["missing"]
    return {Path(path).name.split(".")[0].split("_")[0]: root / path for path in missing}


def _labelled_rows(table: pd.DataFrame, quality: QualityLog) -> pd.DataFrame:
    """Rows with an id and a taxon_id; the others are recorded and dropped."""
    for column in ("id", "taxon_id"):
        for row in table.loc[table[column].isna()].itertuples():
            quality.record("observations", "missing_value", row.id, detail=f"empty {column}")
    return table.dropna(subset=["id", "taxon_id"]).reset_index(drop=True)


def select_species(
    taxon_ids: pd.Series, min_occurrences: int, max_species: int | None
) -> list[str]:
    """Kept taxon ids, sorted: >= `min_occurrences` rows, then the `max_species` most frequent
    (ties broken by taxon id)."""
    counts = taxon_ids.value_counts()
    counts = counts[counts >= min_occurrences]
    order = sorted(counts.index, key=lambda taxon: (-counts[taxon], taxon))
    kept = order if max_species is None else order[:max_species]
    return sorted(kept, key=lambda taxon: (len(taxon), taxon))  # numeric order of id strings


def _class_names(table: pd.DataFrame, kept: list[str]) -> list[str]:
    """The scientific name of each kept taxon (its taxon id where the table has none)."""
    names = table.drop_duplicates("taxon_id").set_index("taxon_id")
    return [
        str(names.at[taxon, "scientific_name"])
        if "scientific_name" in names.columns and pd.notna(names.at[taxon, "scientific_name"])
        else taxon
        for taxon in kept
    ]


def _coordinate_problems(table: pd.DataFrame, quality: QualityLog) -> np.ndarray:
    """True where the coordinates are usable; the others are recorded for the located
    modalities."""
    lat = pd.to_numeric(table["latitude"], errors="coerce").to_numpy(float)
    lon = pd.to_numeric(table["longitude"], errors="coerce").to_numpy(float)
    empty = table["latitude"].isna().to_numpy() | table["longitude"].isna().to_numpy()
    usable = valid_coordinates(lat, lon) & ~empty
    for i in np.flatnonzero(~usable):
        reason = "missing_value" if empty[i] else "out_of_range"
        detail = f"latitude={table['latitude'].iloc[i]}, longitude={table['longitude'].iloc[i]}"
        for modality in LOCATED_MODALITIES:
            quality.record(modality, reason, table["id"].iloc[i], detail=detail)
    return usable


def tokenize_taxabench(
    root: str | Path,
    min_occurrences: int = 5,
    max_species: int | None = None,
    image_size: int = 64,
    image_patch: int = 16,
    satellite_size: int = 64,
    satellite_patch: int = 16,
    satellite_bands: int = 4,
    audio: dict | None = None,
    location_frequencies=LOCATION_FREQUENCIES,
    shard: tuple[int, int] = (0, 1),
    progress: bool = True,
    layout: dict | None = None,
    species: list[str] | None = None,
) -> tuple[TokenSet, QualityLog]:
    """Tokenize the TaxaBench-8k folder `root` (see the module docstring).

    `species`: read the observations label-free (sites to predict; `taxon_id` may be empty)
    with these class names (a trained model's); every observation with an id is kept and its
    target is 0.

    `audio` overrides fields of `AudioConfig` (sample_rate, duration, n_fft, hop_length, n_mels,
    time_blocks, freq_bands). `shard` = (k, n): only the k-th of n blocks of observations.
    `layout`: where each file is (default: config/datasets/taxabench.yaml's).
    """
    root = Path(root)
    layout = release_layout("taxabench", layout)
    quality = QualityLog()
    observations = require(root, layout, "observations", {}, "taxabench")
    if species is None:
        table, kept, class_names = _observations(
            observations, min_occurrences, max_species, shard, quality
        )
    else:
        table = read_observations(observations).dropna(subset=["id"])
        table = table.iloc[shard_rows(len(table), *shard)].reset_index(drop=True)
        table["taxon_id"], kept, class_names = None, [], list(species)
    paths = {key: require(root, layout, key, {}, "taxabench") for key in layout}
    usable = _coordinate_problems(table, quality)
    lat = np.where(usable, pd.to_numeric(table["latitude"], errors="coerce"), np.nan)
    lon = np.where(usable, pd.to_numeric(table["longitude"], errors="coerce"), np.nan)
    sample_ids = table["id"].to_numpy(str)
    image = _image_modality(
        root, paths["ground_images"], sample_ids, image_size, image_patch, quality, progress
    )
    satellite = _satellite_modality(
        root, paths["satellite"], sample_ids, usable, satellite_size, satellite_patch,
        satellite_bands, quality,
    )  # fmt: skip
    audio_modality = _audio_modality(
        root, paths["sounds"], sample_ids, AudioConfig(**(audio or {})), quality, progress
    )
    environment = _environment_modality(paths["environment"], sample_ids, usable, lat, lon, quality)
    location = np.zeros((len(table), 1, 4 * len(location_frequencies)), np.float32)
    location[usable, 0] = location_features(lat[usable], lon[usable], location_frequencies)
    class_index = {taxon: c for c, taxon in enumerate(kept)}
    tokens = TokenSet(
        task="multiclass",
        modalities=[
            image,
            satellite,
            audio_modality,
            environment,
            Modality("location", "vector", location, usable[:, None], ["latlon"]),
        ],
        targets=table["taxon_id"].map(class_index).fillna(0).to_numpy(np.int64),
        samples=pd.DataFrame({"sample_id": sample_ids, "lon": lon, "lat": lat}),
        class_names=class_names,
    )
    return tokens, quality


def _observations(path: Path, min_occurrences, max_species, shard, quality: QualityLog):
    """(this shard's labelled rows of the kept species, kept taxon ids, class names)."""
    # Rows dropped from the whole table: recorded once, by the first shard.
    dropped_rows = quality if shard[0] == 0 else QualityLog()
    table = _labelled_rows(read_observations(path), dropped_rows)
    kept = select_species(table["taxon_id"], min_occurrences, max_species)
    if not kept:
        raise ValueError(f"no species of {path} has {min_occurrences} or more observations")
    n_before = len(table)
    table = table[table["taxon_id"].isin(kept)].reset_index(drop=True)
    class_names = _class_names(table, kept)
    log.info(
        "TaxaBench %s: %d species kept, %d of %d observations",
        path,
        len(kept),
        len(table),
        n_before,
    )
    table = table.iloc[shard_rows(len(table), *shard)].reset_index(drop=True)
    if shard != (0, 1):
        log.info("shard %d of %d: %d observations", shard[0] + 1, shard[1], len(table))
    return table, kept, class_names


def _image_modality(root, folder, sample_ids, size, patch, quality, progress) -> Modality:
    files = SampleFiles(folder, IMAGE_SUFFIXES, unserved=not_on_server(root, folder))
    grid = size // patch
    values = np.zeros((len(sample_ids), grid * grid, patch**2 * 3), np.float32)

    def tokens(path, sample_id):
        return image_patch_tokens(read_image(path, size), patch)

    present = read_each_file(
        "image", sample_ids, files, quality, progress, values, tokens, IMAGE_DECODE_ERRORS
    )
    present = np.repeat(present[:, None], grid * grid, axis=1)
    return Modality("image", "vector", values, present, patch_names(grid, grid))


def _audio_modality(root, folder, sample_ids, config, quality, progress) -> Modality:
    files = SampleFiles(folder, SOUND_SUFFIXES, unserved=not_on_server(root, folder))
    names = config.token_names
    values = np.zeros((len(sample_ids), len(names), config.token_dim), np.float32)

    def tokens(path, sample_id):
        return audio_tokens(path, config, quality.adjusted("audio", sample_id, path))

    present = read_each_file(
        "audio", sample_ids, files, quality, progress, values, tokens, AUDIO_DECODE_ERRORS
    )
    return Modality("audio", "vector", values, np.repeat(present[:, None], len(names), 1), names)


def _satellite_modality(root, folder, sample_ids, usable, size, patch, bands, quality):
    """Tiles found by the ``<id>_`` prefix of their names (`TileStore`), never by the
    coordinates' text, which the CSV may write otherwise than the publisher's file names."""
    tiles = np.zeros((len(sample_ids), bands, size, size), np.float32)
    tile_present = np.zeros(len(sample_ids), bool)
    store, unserved = TileStore(folder), not_on_server(root, folder)
    for i in np.flatnonzero(usable):
        sample_id = sample_ids[i]
        if sample_id in unserved and sample_id not in store:
            quality.record(
                "satellite", "missing_file", sample_id, unserved[sample_id], NOT_ON_SERVER
            )
            continue
        tile = store.read(sample_id, quality, "satellite", size=size, n_bands=bands)
        if tile is not None:
            tiles[i], tile_present[i] = tile, True
    store.close()
    values, present, names = patch_tokens(tiles, tile_present, patch=patch, bands=band_names(bands))
    return Modality("satellite", "vector", values, present, names)


def _environment_modality(path, sample_ids, usable, lat, lon, quality) -> Modality:
    """The raster's variables at each usable observation's cell; empty cells recorded."""
    raster = read_environment_raster(path)
    environment = np.full((len(sample_ids), len(ENVIRONMENT_VARIABLES)), np.nan, np.float32)
    environment[usable] = lookup_environment(raster, lat[usable], lon[usable])
    fills = fill_values(environment)
    for i in np.flatnonzero(fills.any(axis=1)):
        detail = f"fill values at lat={lat[i]}, lon={lon[i]}"
        quality.record("environment", "fill_value", sample_ids[i], path, detail)
    environment[fills] = np.nan
    present = np.isfinite(environment)
    for i in np.flatnonzero(usable & ~present.all(axis=1)):
        empty = [v for v, ok in zip(ENVIRONMENT_VARIABLES, present[i], strict=True) if not ok]
        detail = f"no raster value for {', '.join(empty)} at lat={lat[i]}, lon={lon[i]}"
        quality.record("environment", "nan_values", sample_ids[i], path, detail)
    values = np.nan_to_num(environment)[..., None]
    return Modality("environment", "scalar", values, present, list(ENVIRONMENT_VARIABLES))
