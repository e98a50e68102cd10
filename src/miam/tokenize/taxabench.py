"""TaxaBench-8k (real or `synthetic-taxabench`) -> `TokenSet` + `QualityLog`.

Layout read under `root` (REFERENCE.md section 4; the synthetic generator writes the same)::

    test_df.csv                     observations: id, latitude, longitude, taxon_id,
                                    scientific_name, ... (other columns are ignored)
    taxabench_images/<id>.jpg       ground photo (.jpg, .jpeg or .png)
    taxabench_sound/<id>.m4a        recording (.m4a as shipped, or .wav/.flac/.mp3/.ogg)
    sat_images/sentinel/.../<id>.tif(f)   satellite GeoTIFF, found by id at any depth
    bioclim_elevation_scaled.npy    global (H, W, 20) environment raster

Modalities, in model order:

- ``image`` (vector): `image_size` px square photo cut into `image_patch` px patches,
  tokens ``r{i}c{j}``, D = image_patch**2 * 3, pixels in [0, 1] (`miam.tokenize.image`).
- ``satellite`` (vector): the tile's centre `satellite_size` px window, patch tokens
  ``r{i}c{j}``, D = satellite_bands * satellite_patch**2, in [0, 1] (`miam.tokenize.satellite`).
- ``audio`` (vector): log-mel time-frequency patches ``t{i}f{j}`` in dB (`miam.tokenize.audio`).
- ``environment`` (scalar): ``elevation``, ``bio1``..``bio19`` looked up in the raster
  (`miam.tokenize.location`), values as stored (already z-scored).
- ``location`` (vector): one token ``latlon``, sinusoidal features of lat/lon.

Targets: multiclass (N,) int64 over the kept species, classes ordered by taxon_id, class names
the species' scientific names. Species with fewer than `min_occurrences` usable observations are
dropped, then only the `max_species` most frequent are kept when set (the paper keeps 199 species
of the real data; `max_species=199` reproduces that count whatever threshold they used).

Data quality (never a crash, never silent; recorded per modality and reason):
no file -> ``missing_file`` (the usual case for audio: about 4 in 10 observations have no
recording); undecodable image/recording/tile -> ``corrupt_file``; empty latitude/longitude ->
``missing_value`` and coordinates outside the globe -> ``out_of_range``, both masking location,
environment and satellite (the tile was fetched by those coordinates); raster cell without data
-> ``nan_values``; an empty id or taxon_id drops the row (``missing_value`` under ``observations``).
An observations table that cannot be read raises ValueError naming the file.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from miam.quality import QualityLog
from miam.tokenize.audio import AUDIO_DECODE_ERRORS, AudioConfig, audio_tokens
from miam.tokenize.image import IMAGE_DECODE_ERRORS, image_patch_tokens, patch_names, read_image
from miam.tokenize.location import (
    ENVIRONMENT_VARIABLES,
    LOCATION_FREQUENCIES,
    location_features,
    lookup_environment,
    read_environment_raster,
    valid_coordinates,
)
from miam.tokenize.satellite import TileStore, patch_tokens
from miam.tokens import Modality, TokenSet

log = logging.getLogger(__name__)

OBSERVATIONS_CSV = "test_df.csv"
IMAGE_DIR = "taxabench_images"
SOUND_DIR = "taxabench_sound"
SATELLITE_DIR = "sat_images/sentinel"
ENVIRONMENT_RASTER = "bioclim_elevation_scaled.npy"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
SOUND_SUFFIXES = (".m4a", ".wav", ".flac", ".mp3", ".ogg")
REQUIRED_COLUMNS = ("id", "latitude", "longitude", "taxon_id")
# Modalities derived from the coordinates: masked together when the coordinates are bad.
LOCATED_MODALITIES = ("satellite", "environment", "location")


def read_observations(path: str | Path) -> pd.DataFrame:
    """The observations table with `id` as str; raises ValueError naming `path` if unreadable."""
    try:
        table = pd.read_csv(path, dtype={"id": str, "taxon_id": str}, keep_default_na=True)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise ValueError(f"cannot read the TaxaBench observations table {path}: {error}") from error
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(
            f"TaxaBench observations table {path} lacks columns {missing}; "
            f"it has {list(table.columns)}"
        )
    return table


def _first_existing(folder: Path, stem: str, suffixes: tuple[str, ...]) -> Path | None:
    for suffix in suffixes:
        path = folder / f"{stem}{suffix}"
        if path.is_file():
            return path
    return None


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
    progress: bool = True,
) -> tuple[TokenSet, QualityLog]:
    """Tokenize the TaxaBench-8k folder `root` (see the module docstring).

    `audio` overrides fields of `AudioConfig` (sample_rate, duration, n_fft, hop_length, n_mels,
    time_blocks, freq_bands).
    """
    root = Path(root)
    audio_config = AudioConfig(**(audio or {}))
    quality = QualityLog()
    table = _labelled_rows(read_observations(root / OBSERVATIONS_CSV), quality)
    kept = select_species(table["taxon_id"], min_occurrences, max_species)
    if not kept:
        raise ValueError(
            f"no species of {root / OBSERVATIONS_CSV} has {min_occurrences} or more observations"
        )
    n_before = len(table)
    table = table[table["taxon_id"].isin(kept)].reset_index(drop=True)
    log.info(
        "TaxaBench %s: %d species kept, %d of %d observations",
        root,
        len(kept),
        len(table),
        n_before,
    )
    raster = read_environment_raster(root / ENVIRONMENT_RASTER)
    n = len(table)
    usable = _coordinate_problems(table, quality)
    lat = np.where(usable, pd.to_numeric(table["latitude"], errors="coerce"), np.nan)
    lon = np.where(usable, pd.to_numeric(table["longitude"], errors="coerce"), np.nan)

    image_tokens = (image_size // image_patch) ** 2
    image_values = np.zeros((n, image_tokens, image_patch**2 * 3), np.float32)
    image_present = np.zeros(n, bool)
    tiles = np.zeros((n, satellite_bands, satellite_size, satellite_size), np.uint8)
    tile_present = np.zeros(n, bool)
    audio_values = np.zeros((n, len(audio_config.token_names), audio_config.token_dim), np.float32)
    audio_present = np.zeros(n, bool)
    tile_store = TileStore(root / SATELLITE_DIR)
    rows = tqdm(table["id"], desc=f"TaxaBench {root.name}", disable=not progress)
    for i, sample_id in enumerate(rows):
        image_path = _first_existing(root / IMAGE_DIR, sample_id, IMAGE_SUFFIXES)
        if image_path is None:
            quality.record("image", "missing_file", sample_id, root / IMAGE_DIR / f"{sample_id}.*")
        else:
            try:
                image = read_image(image_path, image_size)
                image_values[i] = image_patch_tokens(image, image_patch)
                image_present[i] = True
            except IMAGE_DECODE_ERRORS as error:
                quality.record("image", "corrupt_file", sample_id, image_path, error)

        if usable[i]:
            tile = tile_store.read(
                sample_id, quality, "satellite", size=satellite_size, n_bands=satellite_bands
            )
            if tile is not None:
                tiles[i], tile_present[i] = tile, True

        sound_path = _first_existing(root / SOUND_DIR, sample_id, SOUND_SUFFIXES)
        if sound_path is None:
            quality.record("audio", "missing_file", sample_id, root / SOUND_DIR / f"{sample_id}.*")
        else:
            try:
                audio_values[i] = audio_tokens(sound_path, audio_config)
                audio_present[i] = True
            except AUDIO_DECODE_ERRORS as error:
                quality.record("audio", "corrupt_file", sample_id, sound_path, error)
    tile_store.close()

    environment = np.full((n, len(ENVIRONMENT_VARIABLES)), np.nan, np.float32)
    environment[usable] = lookup_environment(raster, lat[usable], lon[usable])
    environment_present = np.isfinite(environment)
    for i in np.flatnonzero(usable & ~environment_present.all(axis=1)):
        empty = [
            v for v, ok in zip(ENVIRONMENT_VARIABLES, environment_present[i], strict=True) if not ok
        ]
        quality.record(
            "environment",
            "nan_values",
            table["id"].iloc[i],
            root / ENVIRONMENT_RASTER,
            f"no raster value for {', '.join(empty)} at lat={lat[i]}, lon={lon[i]}",
        )
    location = np.zeros((n, 1, 4 * len(location_frequencies)), np.float32)
    location[usable, 0] = location_features(lat[usable], lon[usable], location_frequencies)

    satellite_values, satellite_present, satellite_names = patch_tokens(
        tiles, tile_present, patch=satellite_patch, bands=("R", "G", "B", "NIR")[:satellite_bands]
    )
    grid = image_size // image_patch
    modalities = [
        Modality(
            "image",
            "vector",
            image_values,
            np.repeat(image_present[:, None], image_tokens, axis=1),
            patch_names(grid, grid),
        ),
        Modality("satellite", "vector", satellite_values, satellite_present, satellite_names),
        Modality(
            "audio",
            "vector",
            audio_values,
            np.repeat(audio_present[:, None], len(audio_config.token_names), axis=1),
            audio_config.token_names,
        ),
        Modality(
            "environment",
            "scalar",
            np.nan_to_num(environment)[..., None],
            environment_present,
            list(ENVIRONMENT_VARIABLES),
        ),
        Modality("location", "vector", location, usable[:, None], ["latlon"]),
    ]
    class_index = {taxon: c for c, taxon in enumerate(kept)}
    names = table.drop_duplicates("taxon_id").set_index("taxon_id")
    class_names = [
        str(names.at[taxon, "scientific_name"])
        if "scientific_name" in names.columns and pd.notna(names.at[taxon, "scientific_name"])
        else taxon
        for taxon in kept
    ]
    tokens = TokenSet(
        task="multiclass",
        modalities=modalities,
        targets=table["taxon_id"].map(class_index).to_numpy(np.int64),
        samples=pd.DataFrame({"sample_id": table["id"].to_numpy(str), "lon": lon, "lat": lat}),
        class_names=class_names,
    )
    return tokens, quality
