"""`synthetic-geoplant`: an embedded presence-absence benchmark in GeoPlant's real file layout.

``generate(root)`` writes, under ``<root>/GeoPlantData/`` (the real dataset's paths, split
``train`` only; `miam.inputs.tokenize.geoplant` reads these and the real files alike)::

    PresenceAbsenceSurveys/PA_metadata_train.csv       one row per (survey, present species)
    EnvironmentalValues/Climate/PA-train-bioclimatic.csv        surveyId, Bio1..Bio19
    EnvironmentalValues/Elevation/PA-train-elevation.csv        surveyId, Elevation
    EnvironmentalValues/LandCover/PA-train-landcover.csv        surveyId, LandCover-1..13
    EnvironmentalValues/SoilGrids/v2/PA-train-soilgrids.csv     surveyId, Soilgrid-<var>
    TimeSeries/Bioclim/cubes/PA-train-bioclimatic-monthly.zip
        GLC25-PA-train-bioclimatic-monthly_<surveyId>_cube.pt   (4 pr/tas/tasmax/tasmin, 19 years
                                                                2000-2018, 12 months) float32
    TimeSeries/Landsat/cubes/PA-train-landsat-time-series.zip
        GLC25-PA-train-landsat-time-series_<surveyId>_cube.pt   (6 bands, 4 quarters, 21 years
                                                                2000-2020) float32
    SatelliteData/Sentinel2Patches-tiff/PA-Train-Sentinel2Patches.zip
        <last 2 digits>/<previous 2>/<surveyId>.tiff            4-band R,G,B,NIR uint8 64x64,
                                                                EPSG:4326, centred on the survey

plus ``<root>/synthetic-geoplant.json`` (not part of GeoPlant): scale, seed, each species'
group and the planted corrupt files.

How species respond (the imbalance by construction, see `SPECIES_GROUPS`, `EFFECTS` and
`presence_probability`): every species has a Gaussian niche in recent temperature and
precipitation (seen cleanly by the climate cubes, less well by the Bio variables of the older
climatology and, as ground colour, by the Sentinel-2 tile) and a response to greenness (seen
through the Landsat seasons; a tile shows it at one random acquisition season). On top, by
group: ``heatwave`` species die back where the planted 2003 heatwave was strong (only the 2003
climate year shows it), ``canopy`` species follow local tree cover (only the tile shows it),
``warm_canopy`` species need trees only where it is warm (a product of a time-series and a
satellite driver, which no sum of per-modality terms represents), ``soil`` species follow soil
pH and land cover (only the tables show them). Time series carry most of the signal and are
learned fastest, tabular less, satellite least but something nobody else has.

Missingness as in real data: NaN years in cubes, missing tiles, empty CSV cells. With
``corrupt=True`` a few files are broken on purpose (`PLANTED_ISSUES`) for the quality report.
Everything is a function of the seed; shards of `SHARD_SIZE` surveys are generated in worker
processes and written in order, so the bytes do not depend on the number of processes.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from miam.core.hardware import usable_cores
from miam.inputs.datasets.landscape import DEFAULT_BBOX, SOIL_VARIABLES, cached_landscape
from miam.inputs.tokenize.satellite import nested_tile_path, tile_bytes

CLIMATE_YEARS = tuple(range(2000, 2019))
LANDSAT_YEARS = tuple(range(2000, 2021))
SURVEY_YEARS = (2017, 2018, 2019, 2020, 2021)
SHARD_SIZE = 500
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps: same seed, same bytes

SCALES = {
    "tiny": {"n_surveys": 600, "n_species": 16},
    "demo": {"n_surveys": 1600, "n_species": 32},
    "paper": {"n_surveys": 90000, "n_species": 60},
}
# Share of species per group, in this order; the rest are plain climate species.
SPECIES_GROUPS = {"heatwave": 0.15, "canopy": 0.2, "warm_canopy": 0.15, "soil": 0.15}
# Strength (logit units per standardised driver) of each response, see `presence_probability`.
EFFECTS = {
    "niche": 0.8,
    "greenness": 1.5,
    "heatwave": 2.5,
    "canopy": 2.0,
    "warm_canopy": 4.0,
    "soil": 1.5,
}
# Species mixes (source option `species_mix`): (SPECIES_GROUPS, EFFECTS) pairs. "default" is the
# benchmark above. "competition" is the decisive study's setting of stronger modality competition
# (docs/study.md): a fast dominant modality whose signal the others repeat (a stronger climate
# niche and greenness, seen by the time series first and, more noisily, by the Bio variables and
# the tile's colour) and a weak modality with signal of its own that is slower to learn (almost
# half the species follow the tile's tree cover, at a weaker slope); no heatwave species, fewer
# soil species. Chosen before any run, from the generator's design alone, never tuned on a result.
SPECIES_MIXES = {
    "default": (SPECIES_GROUPS, EFFECTS),
    "competition": (
        {"heatwave": 0.0, "canopy": 0.45, "warm_canopy": 0.15, "soil": 0.1},
        EFFECTS | {"niche": 1.6, "greenness": 2.5, "canopy": 1.5},
    ),
}
# Rates of natural missingness.
NAN_CLIMATE_YEAR, NAN_LANDSAT_YEAR, MISSING_TILE, EMPTY_CELL = 0.01, 0.04, 0.03, 0.002
# Broken files planted with corrupt=True: kind -> what the tokenizer should report.
PLANTED_ISSUES = {
    "truncated_tile": ("satellite", "corrupt_file"),
    "three_band_tile": ("satellite", "wrong_shape"),
    "wrong_shape_climate_cube": ("timeseries", "wrong_shape"),
    "nan_landsat_cube": ("timeseries", "nan_values"),
    "unsafe_pickle_cube": ("timeseries", "corrupt_file"),
    "empty_bio1_cell": ("tabular", "missing_value"),
    "out_of_range_coordinates": ("samples", "out_of_range"),
}

# The planted issues that live in cube or tile files (made inside the shards).
_FILE_ISSUES = tuple(list(PLANTED_ISSUES)[:5])

ROOT = "GeoPlantData"
METADATA = "PresenceAbsenceSurveys/PA_metadata_{split}.csv"
BIOCLIMATIC = "EnvironmentalValues/Climate/PA-{split}-bioclimatic.csv"
ELEVATION = "EnvironmentalValues/Elevation/PA-{split}-elevation.csv"
LANDCOVER = "EnvironmentalValues/LandCover/PA-{split}-landcover.csv"
SOILGRIDS = "EnvironmentalValues/SoilGrids/v2/PA-{split}-soilgrids.csv"
CLIMATE_CUBES = "TimeSeries/Bioclim/cubes/PA-{split}-bioclimatic-monthly.zip"
CLIMATE_CUBE = "GLC25-PA-{split}-bioclimatic-monthly_{survey}_cube.pt"
LANDSAT_CUBES = "TimeSeries/Landsat/cubes/PA-{split}-landsat-time-series.zip"
LANDSAT_CUBE = "GLC25-PA-{split}-landsat-time-series_{survey}_cube.pt"
TILES = "SatelliteData/Sentinel2Patches-tiff/PA-{Split}-Sentinel2Patches.zip"


class _UnsafeCube:
    """Pickles into a call of os.system: what a malicious `.pt` file looks like."""

    def __reduce__(self):
        return (os.system, ("echo this cube was unpickled unsafely",))


@dataclass
class Surveys:
    survey_id: np.ndarray  # (N,) int64, sorted
    lon: np.ndarray
    lat: np.ndarray
    year: np.ndarray


def _surveys(rng: np.random.Generator, n: int, bbox) -> Surveys:
    """Surveys clustered around sampling campaigns (70 %) or scattered (30 %)."""
    lon_min, lat_min, lon_max, lat_max = bbox
    centres = rng.uniform([lon_min, lat_min], [lon_max, lat_max], (max(4, n // 100), 2))
    clustered = rng.random(n) < 0.7
    points = rng.uniform([lon_min, lat_min], [lon_max, lat_max], (n, 2))
    around = centres[rng.integers(len(centres), size=n)] + rng.normal(0, 0.4, (n, 2))
    inside = ((around >= [lon_min, lat_min]) & (around <= [lon_max, lat_max])).all(1)
    points[clustered & inside] = around[clustered & inside]
    points = points.round(5)
    ids = np.sort(rng.choice(np.arange(200, 4_000_000), n, replace=False))
    return Surveys(ids, points[:, 0], points[:, 1], rng.choice(SURVEY_YEARS, n))


def _species(
    rng: np.random.Generator, n_species: int, species_groups: dict = SPECIES_GROUPS
) -> pd.DataFrame:
    """Species ids, groups and niche parameters (in standardised driver units)."""
    counts = {g: round(share * n_species) for g, share in species_groups.items()}
    groups = [g for g, c in counts.items() for _ in range(c)]
    groups += ["climate"] * (n_species - len(groups))
    return pd.DataFrame(
        {
            "speciesId": np.sort(rng.choice(np.arange(1, 12000), n_species, replace=False)),
            "group": rng.permutation(groups),
            "temperature_optimum": rng.uniform(-1.2, 1.2, n_species),
            "precip_optimum": rng.uniform(-1.2, 1.2, n_species),
            "niche_width": rng.uniform(0.7, 1.2, n_species),
            "greenness_slope": rng.normal(0.0, 1.0, n_species),
            "group_slope": rng.choice([-1.0, 1.0], n_species) * rng.uniform(0.8, 1.2, n_species),
            "landcover_class": rng.integers(0, 13, n_species),
            # warm_canopy species: the temperature above which they need trees.
            "warm_threshold": rng.uniform(-0.5, 0.5, n_species),
            "intercept": rng.uniform(-1.0, 0.5, n_species),
        }
    )


def _standardise(values: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """`values` in standard deviations of `reference` (default: of themselves)."""
    reference = values if reference is None else reference
    return (values - reference.mean()) / reference.std()


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def presence_probability(
    fields: dict[str, np.ndarray],
    species: pd.DataFrame,
    effects: dict = EFFECTS,
    reference: dict | None = None,
) -> np.ndarray:
    """(N, S) probability that each species is present, from the landscape `fields`.

    logit = intercept - effects["niche"] * squared distance to the climate optimum
            + effects["greenness"] * greenness_slope * greenness
            + the group's own term (effects[group] * group_slope * driver),
    `effects` the species mix's (SPECIES_MIXES; default EFFECTS).
    Drivers are standardised over the surveys (`reference`: the fields of the surveys that
    set the scale, for sites elsewhere such as a map's grid; default: `fields` themselves). The
    `warm_canopy` term is a product across modalities: present where it is warm (time series)
    *and* under trees (satellite tile).
    """

    def driver(compute):
        scale = None if reference is None else compute(reference)
        return _standardise(compute(fields), scale)[:, None]

    # Species track the recent climate (what the yearly cubes show), not the climatology.
    temperature = driver(lambda f: f["tas"] + f["warming"])
    precip = driver(lambda f: np.log(f["precip"]))
    greenness = driver(lambda f: f["greenness"])
    canopy = driver(lambda f: f["canopy"])
    distance2 = (
        (temperature - species["temperature_optimum"].to_numpy()) ** 2
        + (precip - species["precip_optimum"].to_numpy()) ** 2
    ) / species["niche_width"].to_numpy() ** 2
    logit = species["intercept"].to_numpy() - effects["niche"] * distance2
    logit = logit + effects["greenness"] * species["greenness_slope"].to_numpy() * greenness
    group = species["group"].to_numpy()
    landcover = fields["landcover"][:, species["landcover_class"].to_numpy()]
    warm = _sigmoid(3.0 * (temperature - species["warm_threshold"].to_numpy()))
    drivers = {
        # Die-back where the 2003 summer was hot: a threshold response, slope sets its sign.
        "heatwave": driver(lambda f: f["heatwave"]) - 0.3,
        "canopy": canopy,
        # Needs trees where it is warm, indifferent to them where it is cool.
        "warm_canopy": 2.0 * warm * (_sigmoid(2.0 * canopy) - 0.5),
        "soil": driver(lambda f: f["phh2o"]) + 2.0 * (landcover - 0.08) / 0.1,
    }
    for name, term in drivers.items():
        slope = effects[name] * np.abs(species["group_slope"].to_numpy())
        if name != "warm_canopy":
            slope = slope * np.sign(species["group_slope"].to_numpy())
        logit = logit + np.where(group == name, slope * term, 0.0)
    return _sigmoid(logit)


def _zip_write(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data, compresslevel=6)


def _tensor_bytes(value) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


@dataclass
class _Shard:
    index: int
    seed: int
    bbox: tuple
    survey_id: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    planted: dict[str, int]  # kind -> survey id, for the kinds that live in files
    split: str = "train"


def _make_shard(shard: _Shard) -> dict[str, list[tuple[str, bytes]]]:
    """Cube and tile files of one shard, as (member name, bytes) per archive."""
    landscape = cached_landscape(shard.seed, tuple(shard.bbox))
    # Other splits (sites to predict) draw their own noise; train's stream is the original one.
    stream = [] if shard.split == "train" else [zlib.crc32(shard.split.encode())]
    rng = np.random.default_rng([shard.seed, 101, shard.index, *stream])
    climate = landscape.monthly_climate(shard.lon, shard.lat, CLIMATE_YEARS)
    climate = climate * (1 + 0.02 * rng.standard_normal(climate.shape, dtype=np.float32))
    landsat = landscape.landsat(shard.lon, shard.lat, LANDSAT_YEARS)
    landsat = landsat + rng.normal(0, 1.0, landsat.shape).astype(np.float32)
    lost_climate = rng.random((len(climate), len(CLIMATE_YEARS))) < NAN_CLIMATE_YEAR
    climate.transpose(0, 2, 1, 3)[lost_climate] = np.nan
    # Cloudy quarters and lost years: NaN, as in real Landsat cubes.
    lost = rng.random((len(landsat), len(LANDSAT_YEARS))) < NAN_LANDSAT_YEAR
    landsat.transpose(0, 3, 1, 2)[lost] = np.nan
    tile_missing = rng.random(len(shard.survey_id)) < MISSING_TILE
    fields = landscape.sample(shard.lon, shard.lat)
    by_id = {v: k for k, v in shard.planted.items()}
    files = {"climate": [], "landsat": [], "tiles": []}
    for i, survey in enumerate(shard.survey_id.tolist()):
        kind = by_id.get(survey)
        climate_cube = torch.from_numpy(np.ascontiguousarray(climate[i]))
        landsat_cube = torch.from_numpy(np.ascontiguousarray(landsat[i]))
        if kind == "wrong_shape_climate_cube":
            climate_cube = climate_cube[:, :18]
        if kind == "nan_landsat_cube":
            landsat_cube = torch.full_like(landsat_cube, float("nan"))
        climate_data = _tensor_bytes(climate_cube.clone())
        if kind == "unsafe_pickle_cube":
            climate_data = _tensor_bytes(_UnsafeCube())
        files["climate"].append(
            (CLIMATE_CUBE.format(split=shard.split, survey=survey), climate_data)
        )
        files["landsat"].append(
            (
                LANDSAT_CUBE.format(split=shard.split, survey=survey),
                _tensor_bytes(landsat_cube.clone()),
            )
        )
        if tile_missing[i] and kind is None:
            continue
        at = {name: values[i] for name, values in fields.items()}
        tile = landscape.tile(shard.lon[i], shard.lat[i], fields=at)
        if kind == "three_band_tile":
            tile = tile[:3]
        data = tile_bytes(tile, shard.lon[i], shard.lat[i])
        if kind == "truncated_tile":
            data = data[: len(data) // 3]
        files["tiles"].append((nested_tile_path(survey), data))
    return files


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, float_format="%.6g", lineterminator="\n")


def _design(scale: str, seed: int, bbox, n_surveys: int | None, species_mix: str):
    """What `generate` draws first, and `generate_sites` must draw alike: (rng, training
    surveys, species, the mix's effects, landscape); the rng goes on to draw the rest."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; scales are {sorted(SCALES)}")
    if species_mix not in SPECIES_MIXES:
        raise ValueError(f"unknown species_mix {species_mix!r}; mixes are {sorted(SPECIES_MIXES)}")
    species_groups, effects = SPECIES_MIXES[species_mix]
    rng = np.random.default_rng([seed, 11])
    surveys = _surveys(rng, n_surveys or SCALES[scale]["n_surveys"], bbox)
    species = _species(rng, SCALES[scale]["n_species"], species_groups)
    return rng, surveys, species, effects, cached_landscape(seed, tuple(bbox))


def generate(
    root: str | Path,
    scale: str = "demo",
    seed: int = 0,
    corrupt: bool = True,
    processes: int | None = None,
    bbox: tuple[float, float, float, float] = DEFAULT_BBOX,
    n_surveys: int | None = None,
    species_mix: str = "default",
) -> dict:
    """Write synthetic-geoplant at `scale` ("tiny", "demo", "paper") under `root`.

    `processes` worker processes generate shards (default: 1 up to 2 shards, else the cores
    this process may use, `usable_cores`); the files are the same whatever it is.
    `n_surveys` overrides the scale's survey count; `species_mix` picks the species' groups
    and response strengths (SPECIES_MIXES). Returns the manifest also written to
    ``<root>/synthetic-geoplant.json``.
    """
    rng, surveys, species, effects, landscape = _design(scale, seed, bbox, n_surveys, species_mix)
    root = Path(root)
    data = root / ROOT
    fields = landscape.sample(surveys.lon, surveys.lat)
    probability = presence_probability(fields, species, effects)
    present = rng.random(probability.shape) < probability
    # Real surveys always list at least one species: keep the likeliest where none was drawn.
    empty = ~present.any(1)
    present[empty, probability[empty].argmax(1)] = True

    planted = {}
    if corrupt:
        picks = rng.choice(len(surveys.survey_id), len(PLANTED_ISSUES), replace=False)
        planted = {
            kind: int(surveys.survey_id[i]) for kind, i in zip(PLANTED_ISSUES, picks, strict=True)
        }

    meta_lat = surveys.lat.copy()
    if "out_of_range_coordinates" in planted:
        meta_lat[surveys.survey_id == planted["out_of_range_coordinates"]] = 95.12345
    rows, cols = np.nonzero(present)
    region = np.where(
        fields["elevation"] > 1200,
        "ALPINE",
        np.where(
            surveys.lat < 44.3,
            "MEDITERRANEAN",
            np.where(surveys.lon < 3, "ATLANTIC", "CONTINENTAL"),
        ),
    )
    metadata = pd.DataFrame(
        {
            "surveyId": surveys.survey_id[rows],
            "lon": surveys.lon[rows],
            "lat": meta_lat[rows],
            "year": surveys.year[rows],
            "geoUncertaintyInM": rng.choice([1.0, 5.0, 10.0, 25.0, 100.0], len(surveys.lon))[rows],
            "areaInM2": rng.choice([1.0, 4.0, 10.0, 25.0, 100.0], len(surveys.lon))[rows],
            "region": region[rows],
            "country": "France",
            "speciesId": species["speciesId"].to_numpy()[cols],
        }
    )
    _write_csv(metadata, data / METADATA.format(split="train"))

    for path, table in _environment_tables(landscape, surveys, fields).items():
        values = table.columns[1:]
        empty_cells = rng.random((len(table), len(values))) < EMPTY_CELL
        table[values] = table[values].mask(empty_cells)
        if path == BIOCLIMATIC and "empty_bio1_cell" in planted:
            table.loc[table["surveyId"] == planted["empty_bio1_cell"], "Bio1"] = np.nan
        _write_csv(table, data / path.format(split="train"))

    file_issues = {k: v for k, v in planted.items() if k in _FILE_ISSUES}
    _write_survey_files(data, surveys, seed, bbox, "train", file_issues, processes)

    manifest = {
        "dataset": "synthetic-geoplant",
        "scale": scale,
        "seed": seed,
        "species_mix": species_mix,
        "bbox": list(bbox),
        "n_surveys": len(surveys.survey_id),
        "species": {str(s): g for s, g in zip(species["speciesId"], species["group"], strict=True)},
        "planted_issues": {
            kind: {"surveyId": survey, "modality": PLANTED_ISSUES[kind][0], "reason": reason}
            for kind, survey in planted.items()
            for reason in [PLANTED_ISSUES[kind][1]]
        },
    }
    (root / "synthetic-geoplant.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def _environment_tables(landscape, surveys: Surveys, fields: dict) -> dict[str, pd.DataFrame]:
    """Path template -> the environmental table of `surveys` (before any empty cell)."""
    ids = {"surveyId": surveys.survey_id}
    bio = landscape.bioclim(surveys.lon, surveys.lat)
    return {
        BIOCLIMATIC: pd.DataFrame(ids | {f"Bio{k + 1}": bio[:, k] for k in range(19)}),
        ELEVATION: pd.DataFrame(ids | {"Elevation": fields["elevation"].round(1)}),
        LANDCOVER: pd.DataFrame(
            ids | {f"LandCover-{k + 1}": fields["landcover"][:, k].round(4) for k in range(13)}
        ),
        SOILGRIDS: pd.DataFrame(
            ids | {f"Soilgrid-{v}": fields[v].round(2) for v in SOIL_VARIABLES}
        ),
    }


def _write_survey_files(
    data: Path, surveys: Surveys, seed: int, bbox, split: str, planted: dict, processes
) -> None:
    """The cube and tile archives of `split`, generated in shards of `SHARD_SIZE` surveys."""
    shards = []
    for k, start in enumerate(range(0, len(surveys.survey_id), SHARD_SIZE)):
        part = slice(start, start + SHARD_SIZE)
        in_shard = set(surveys.survey_id[part].tolist())
        shards.append(
            _Shard(
                index=k,
                seed=seed,
                bbox=tuple(bbox),
                survey_id=surveys.survey_id[part],
                lon=surveys.lon[part],
                lat=surveys.lat[part],
                planted={kind: sid for kind, sid in planted.items() if sid in in_shard},
                split=split,
            )
        )
    archives = {
        "climate": data / CLIMATE_CUBES.format(split=split),
        "landsat": data / LANDSAT_CUBES.format(split=split),
        "tiles": data / TILES.format(Split=split.split("_")[0].capitalize()),
    }
    for path in archives.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    processes = processes or (1 if len(shards) <= 2 else usable_cores())
    zips = {name: zipfile.ZipFile(path, "w") for name, path in archives.items()}
    try:
        if processes == 1:
            _write_shards(map(_make_shard, shards), zips)
        else:
            # The platform's default start method: "spawn" would re-run the caller's __main__
            # (a script or a Snakemake rule) in every worker.
            with multiprocessing.Pool(processes) as pool:
                _write_shards(pool.imap(_make_shard, shards), zips)
    finally:
        for archive in zips.values():
            archive.close()


def generate_sites(
    root: str | Path,
    lon: np.ndarray,
    lat: np.ndarray,
    split: str = "grid",
    scale: str = "demo",
    seed: int = 0,
    bbox: tuple[float, float, float, float] = DEFAULT_BBOX,
    n_surveys: int | None = None,
    processes: int | None = None,
    species_mix: str = "default",
) -> pd.DataFrame:
    """Label-free surveys at (`lon`, `lat`) in the layout of GeoPlant's published test split
    (``PA_metadata_<split>.csv`` without speciesId, its tables, cubes and tiles, with the
    training split's natural missingness), from the landscape and species of
    `generate(root, scale, seed, bbox=bbox, n_surveys=n_surveys, species_mix=species_mix)`.

    Returns the planted truth: one row per site (surveyId, lon, lat) and a column per speciesId
    holding its presence probability there, drivers standardised over the training surveys.
    """
    data = Path(root) / ROOT
    _, training, species, effects, landscape = _design(scale, seed, bbox, n_surveys, species_mix)
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    sites = Surveys(np.arange(1, len(lon) + 1, dtype=np.int64), lon, lat, np.full(len(lon), 2021))
    fields = landscape.sample(lon, lat)
    reference = landscape.sample(training.lon, training.lat)
    truth = presence_probability(fields, species, effects, reference)
    ids = {"surveyId": sites.survey_id, "lon": lon, "lat": lat}
    metadata = pd.DataFrame(ids | {"year": sites.year, "country": "France"})
    _write_csv(metadata, data / METADATA.format(split=split))
    for path, table in _environment_tables(landscape, sites, fields).items():
        _write_csv(table, data / path.format(split=split.replace("_", "-")))
    _write_survey_files(data, sites, seed, bbox, split, {}, processes)
    names = species["speciesId"].astype(str)
    return pd.concat([pd.DataFrame(ids), pd.DataFrame(truth, columns=names)], axis=1)


def _write_shards(results, zips: dict[str, zipfile.ZipFile]) -> None:
    for files in results:
        for name, members in files.items():
            for member, payload in members:
                _zip_write(zips[name], member, payload)


def load_manifest(root: str | Path) -> dict:
    """The manifest `generate` wrote under `root`."""
    return json.loads((Path(root) / "synthetic-geoplant.json").read_text())


__all__ = [
    "PLANTED_ISSUES",
    "SCALES",
    "generate",
    "generate_sites",
    "load_manifest",
    "presence_probability",
]


def imbalance_scores(
    token_set,
    combinations: dict[str, list[str]],
    seed: int = 0,
    n_components: int = 2,
    alpha: float = 1.0,
    classes: list[int] | None = None,
) -> dict[str, float]:
    """Macro AUROC of a small model per modality combination: the imbalance check.

    Every token is standardised over the samples that have it (absent tokens become the mean)
    and projected on its own `n_components` principal components, fitted on a random 70 %
    training part. Per combination, the visible modalities' projections feed one multi-label
    MLP (64 hidden units, L2 `alpha`). AUROC on the other 30 %, averaged over species with
    both classes there (only those in `classes`, indices into the token set's classes, if
    given).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # small matrices: threads only add contention
        return _imbalance_scores(token_set, combinations, seed, n_components, alpha, classes)


def _imbalance_scores(
    token_set, combinations, seed, n_components, alpha, classes=None
) -> dict[str, float]:
    from sklearn.decomposition import PCA
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import roc_auc_score
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    n = token_set.n_samples
    order = np.random.default_rng(seed).permutation(n)
    train, test = order[: int(0.7 * n)], order[int(0.7 * n) :]
    features = {}
    for modality in token_set.modalities:
        k = min(n_components, modality.token_dim)
        per_token = []
        for t in range(modality.n_tokens):
            values, present = modality.values[:, t], modality.present[:, t]
            fit_rows = train[present[train]]
            values = StandardScaler().fit(values[fit_rows]).transform(values)
            values[~present] = 0.0  # absent: the training mean
            if k < modality.token_dim:
                values = PCA(k, random_state=seed).fit(values[train]).transform(values)
            per_token.append(values)
        features[modality.name] = np.concatenate(per_token, axis=1)
    y = token_set.targets
    candidates = range(y.shape[1]) if classes is None else classes
    scored = [c for c in candidates if len(np.unique(y[test, c])) == 2]
    scores = {}
    for name, modalities in combinations.items():
        x = np.concatenate([features[m] for m in modalities], axis=1)
        model = MLPClassifier((64,), alpha=alpha, max_iter=300, random_state=seed)
        with warnings.catch_warnings():  # a fixed budget of epochs, converged or not
            warnings.simplefilter("ignore", ConvergenceWarning)
            probability = model.fit(x[train], y[train]).predict_proba(x[test])
        aurocs = [roc_auc_score(y[test, c], probability[:, c]) for c in scored]
        scores[name] = float(np.mean(aurocs))
    return scores
