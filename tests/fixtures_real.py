"""Tiny copies of GeoPlant and TaxaBench-8k, in the publishers' real layouts, built in a folder.

`build_geoplant_fixture(root)` and `build_taxabench_fixture(root)` write the files the dataset
YAMLs (`config/datasets/*.yaml`) declare, at the paths they declare, as the publishers ship them
(zips of pickled cubes and nested int16 LAEA TIFFs with nodata -1 for GeoPlant; folders of one
JPEG / `.m4a` / tile per observation for TaxaBench, tiles named with the coordinates written
otherwise than in the CSV, as the publisher's JSON wrote them).
`build_geoplant_fixture(root, release=...)` writes the same data under the names of another
GeoPlant release (`GEOPLANT_RELEASES`: GLC25, GLC24 with its JPEG RGB + NIR patches, the Kaggle
copy). Serve `root` with `tests/http_server.py` and point the downloader's
`base_url` at it.

Each returns a `Fixture`: the sha256 of every file, the sample ids, the species of each sample,
and the problems planted on purpose, keyed the way `miam.inputs.quality.QualityLog` reports them
(`problems[reason][file key] = [sample ids]`), so that a test can check the tokens and the
quality report against what is really there. Contents are deterministic (fixed seeds).
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import pandas as pd
import rasterio
import torch
import yaml
from affine import Affine
from PIL import Image
from rasterio.warp import transform

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config" / "datasets"
GEOPLANT_MEMBER_PREFIX = "PA-train/"  # see the comment in config/datasets/geoplant.yaml
ENV_RASTER_SHAPE = (180, 360, 20)  # the real one is (2160, 4320, 20)
LAEA = "IGNF:ETRS89LAEA"  # the CRS of GeoPlant's Sentinel-2 patches (EPSG:3035's projection)
FILL_VALUE = -3.4e38  # a float32 fill value, as in the predecessor's environmental tables
# Where each release puts each file (the Seafile release is the dataset YAML's `files`), and
# how it names the cubes inside their archives; "sentinel2" None: the JPEG release.
GEOPLANT_RELEASES = {
    "glc25": {
        "pa_metadata": "PresenceAbsenceSurveys/GLC25_PA_metadata_train.csv",
        "climate": "EnvironmentalValues/ClimateAverage_1981-2010/GLC25-PA-train-bioclimatic.csv",
        "elevation": "EnvironmentalValues/Elevation/GLC25-PA-train-elevation.csv",
        "landcover": "EnvironmentalValues/LandCover/GLC25-PA-train-landcover.csv",
        "soilgrids": "EnvironmentalValues/SoilGrids/GLC25-PA-train-soilgrids.csv",
        "human_footprint": "EnvironmentalValues/HumanFootprint/GLC25-PA-train-human_footprint.csv",
        "landsat_cubes": "SateliteTimeSeries-Landsat/cubes/PA-train",
        "bioclim_cubes": "BioclimTimeSeries/cubes/PA-train",
        "sentinel2": "SatelitePatches/PA-train",
        "landsat_member": "GLC25-PA-train-landsat-time-series_{surveyId}_cube.pt",
        "bioclim_member": "GLC25-PA-train-bioclimatic_monthly_{surveyId}_cube.pt",
    },
    "kaggle": {
        "pa_metadata": "GLC25_PA_metadata_train.csv",
        "climate": "EnvironmentalValues/Climate/Average 1981-2010/GLC25-PA-train-bioclimatic.csv",
        "elevation": "EnvironmentalValues/Elevation/GLC25-PA-train-elevation.csv",
        "landcover": "EnvironmentalValues/LandCover/GLC25-PA-train-landcover.csv",
        "soilgrids": "EnvironmentalValues/SoilGrids/GLC25-PA-train-soilgrids.csv",
        "human_footprint": "EnvironmentalValues/HumanFootprint/GLC25-PA-train-human_footprint.csv",
        "landsat_cubes": "SateliteTimeSeries-Landsat/cubes/PA-train",
        "bioclim_cubes": "BioclimTimeSeries/cubes/PA-train",
        "sentinel2": "SatelitePatches/PA-train",
        "landsat_member": "GLC25-PA-train-landsat-time-series_{surveyId}_cube.pt",
        "bioclim_member": "GLC25-PA-train-bioclimatic_monthly_{surveyId}_cube.pt",
    },
    "glc24": {
        "pa_metadata": "PresenceAbsenceSurveys/GLC24-PA-metadata-train.csv",
        "climate": "EnvironmentalRasters/Climate/Average 1981-2010/GLC24-PA-train-bioclimatic.csv",
        "elevation": "EnvironmentalRasters/Elevation/GLC24-PA-train-elevation.csv",
        "landcover": "EnvironmentalRasters/LandCover/GLC24-PA-train-landcover.csv",
        "soilgrids": "EnvironmentalRasters/SoilGrids/GLC24-PA-train-soilgrids.csv",
        "human_footprint": "EnvironmentalRasters/HumanFootprint/GLC24-PA-train-human_footprint.csv",
        "landsat_cubes": "SatelliteTimeSeries/cubes/GLC24-PA-train-landsat_time_series.zip",
        "bioclim_cubes": (
            "EnvironmentalRasters/Obs extractions/cubes/GLC24-PA-train-bioclimatic_monthly.zip"
        ),
        "sentinel2": None,
        "sentinel2_rgb": "SatellitePatches/PA_Train_SatellitePatches_RGB.zip",
        "sentinel2_nir": "SatellitePatches/PA_Train_SatellitePatches_NIR.zip",
        "landsat_member": "GLC24-PA-train-landsat_time_series_{surveyId}_cube.pt",
        "bioclim_member": "GLC24-PA-train-bioclimatic_monthly_{surveyId}_cube.pt",
    },
}


@dataclass
class Fixture:
    root: Path
    files: dict[str, str]  # relative path -> sha256, every file the server must serve
    sample_ids: list[int]  # surveyId / observation id, in the order of the metadata file
    species: dict[int, list]  # sample id -> its species (GeoPlant: present species ids)
    problems: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    # Reader settings that make sense for a handful of samples (the paper's thresholds would
    # drop every species); merge them over the YAML's `reader` section in end-to-end tests.
    reader_overrides: dict = field(default_factory=dict)
    # A file that a malicious pickle in the fixture creates if anyone unpickles it unsafely.
    tamper_marker: Path | None = None

    def kept_species(self, min_count: int) -> list:
        """Species present in at least `min_count` samples (inclusive), sorted."""
        counts: dict = {}
        for species in self.species.values():
            for s in set(species):
                counts[s] = counts.get(s, 0) + 1
        return sorted(s for s, n in counts.items() if n >= min_count)


def dataset_config(name: str) -> dict:
    return yaml.safe_load((CONFIG_DIR / f"{name}.yaml").read_text())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write(root: Path, relative: str, data: bytes) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _tensor_bytes(tensor: torch.Tensor) -> bytes:
    buffer = io.BytesIO()
    torch.save(tensor, buffer)
    return buffer.getvalue()


class _Tamper:
    """Pickles into a call of os.system; unpickling it unsafely creates the marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def _zip(root: Path, relative: str, members: dict[str, bytes]) -> None:
    """A zip at `relative`, or (a path without .zip) a folder of the members, as on Kaggle."""
    if not relative.endswith(".zip"):
        for name, data in members.items():
            _write(root / relative, name, data)
        return
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    _write(root, relative, buffer.getvalue())


def _geotiff_bytes(pixels: np.ndarray, lon: float, lat: float) -> bytes:
    """(4, 64, 64) int16 -> a GeoPlant patch as released: 4 bands (red, green, blue, nir),
    int16, nodata -1, 10 m pixels in IGNF:ETRS89LAEA centred on (lon, lat)."""
    bands, height, width = pixels.shape
    (x,), (y,) = transform("EPSG:4326", LAEA, [lon], [lat])
    corner = Affine(10.0, 0.0, x - 10.0 * width / 2, 0.0, -10.0, y + 10.0 * height / 2)
    profile = dict(
        driver="GTiff", dtype="int16", count=bands, height=height, width=width, nodata=-1,
        crs=LAEA, transform=corner,
    )  # fmt: skip
    with rasterio.MemoryFile() as memory:
        with memory.open(**profile) as dataset:
            dataset.write(pixels)
            dataset.descriptions = ("red", "green", "blue", "nir")
        return memory.read()


def _reflectances(rng: np.random.Generator) -> np.ndarray:
    """(4, 64, 64) int16 reflectance-like values (red 200-1300 ... NIR 1600-5300)."""
    low = np.array([200, 250, 150, 1600])[:, None, None]
    return (low + rng.integers(0, 1100, size=(4, 64, 64)) * [[[1]], [[1]], [[1]], [[3]]]).astype(
        np.int16
    )


def _jpeg_pair(pixels: np.ndarray) -> tuple[bytes, bytes]:
    """The JPEG release of a patch: an RGB JPEG and a NIR JPEG (8-bit)."""
    eight_bit = np.clip(pixels // 24, 0, 255).astype(np.uint8)
    rgb, nir = io.BytesIO(), io.BytesIO()
    Image.fromarray(eight_bit[:3].transpose(1, 2, 0)).save(rgb, format="JPEG", quality=95)
    Image.fromarray(eight_bit[3]).save(nir, format="JPEG", quality=95)
    return rgb.getvalue(), nir.getvalue()


# ------------------------------------------------------------------------------- GeoPlant

# (surveyId, lon, lat, year, region, country, present species ids)
_SURVEYS = [
    (212, 3.8761, 43.6108, 2017, "MEDITERRANEAN", "France", [1001, 1002, 1003]),
    (1001507, 6.1432, 46.2044, 2019, "ALPINE", "Switzerland", [1001, 1002, 1004]),
    (3018575, 9.1900, 45.4642, 2018, "CONTINENTAL", "Italy", [1001, 1003]),
    (1234, -1.5536, 47.2184, 2016, "ATLANTIC", "France", [1001, 1002, 1005]),
    (2500001, 13.4050, 52.5200, 2020, "CONTINENTAL", "Germany", [1001, 1003, 1004]),
    (2500002, 4.3517, 50.8503, 2015, "ATLANTIC", "Belgium", [1002]),
    (990017, 2.1734, 41.3851, 2018, "MEDITERRANEAN", "Spain", [1001, 1002]),
    (4404403, 16.3738, 48.2082, 2019, "CONTINENTAL", "Austria", [1001]),
]
_HUMAN_FOOTPRINT = [
    "cemetery", "reservoir", "greenhouse", "farmland", "building-copernicus", "forest",
    "harbour", "building-residential", "building-commercial", "grass", "quarry", "road",
    "salt", "building-industrial", "vineyard", "military", "construction-site", "orchard",
    "meadow", "farmyard", "dump-site", "railway",
]  # fmt: skip
_SOILGRIDS = ["bdod", "cec", "cfvo", "clay", "nitrogen", "phh2o", "sand", "silt", "soc"]


def build_geoplant_fixture(root: str | Path, seed: int = 0, release: str = "seafile") -> Fixture:
    """Write a GeoPlant PA-train subset of 8 surveys under `root`, named as `release` names its
    files ("seafile": the dataset YAML's `files`; else a key of `GEOPLANT_RELEASES`).

    Planted problems: survey 1234 has no Landsat cube and 990017 no Sentinel-2 TIFF; 2500002
    has no elevation row and a blank Bio5; 4404403's Landsat cube has the wrong shape; 2500001's
    TIFF is truncated; 3018575's climate cube is a malicious pickle (calls os.system); 1001507's
    soil organic carbon is a fill value (-3.4e38); 212's patch has nodata (-1) in its top-left
    8 x 8 pixels (TIFF releases).
    """
    root = Path(root)
    cfg = dataset_config("geoplant")
    if release == "seafile":
        paths = {key: entry["path"] for key, entry in cfg["files"].items()}
        members = {
            key: cfg["files"][f"{key}_cubes"]["member_template"] for key in ("landsat", "bioclim")
        }
    else:
        paths = dict(GEOPLANT_RELEASES[release])
        members = {key: paths.pop(f"{key}_member") for key in ("landsat", "bioclim")}
    rng = np.random.default_rng(seed)
    ids = [s[0] for s in _SURVEYS]
    # Write the environmental tables in an order other than the metadata's: join on surveyId.
    shuffled = [ids[i] for i in rng.permutation(len(ids))]
    problems: dict[str, dict[str, list[int]]] = {
        "missing_file": {"landsat_cubes": [1234], "sentinel2": [990017]},
        "missing_value": {"elevation": [2500002], "climate": [2500002]},
        "wrong_shape": {"landsat_cubes": [4404403]},
        "corrupt_file": {"sentinel2": [2500001], "bioclim_cubes": [3018575]},
        "fill_value": {"soilgrids": [1001507]},
        "nodata": {"sentinel2": [212]} if paths["sentinel2"] else {},
    }

    metadata = pd.DataFrame(
        [
            dict(
                surveyId=sid,
                lon=lon,
                lat=lat,
                year=year,
                geoUncertaintyInM=float(10 * (i + 1)),
                areaInM2=np.nan if i % 3 == 0 else 100.0,
                region=region,
                country=country,
                speciesId=float(species),
            )
            for i, (sid, lon, lat, year, region, country, present) in enumerate(_SURVEYS)
            for species in present
        ]
    )
    _write(root, paths["pa_metadata"], metadata.to_csv(index=False).encode())

    def table(columns: list[str], scale: float, skip: tuple[int, ...] = ()) -> pd.DataFrame:
        rows = [sid for sid in shuffled if sid not in skip]
        values = np.round(rng.normal(size=(len(rows), len(columns))) * scale, 3)
        return pd.DataFrame(values, columns=columns).assign(surveyId=rows)[["surveyId", *columns]]

    climate = table([f"Bio{i}" for i in range(1, 20)], 100.0)
    climate.loc[climate.surveyId == 2500002, "Bio5"] = np.nan
    tables = {
        "climate": climate,
        "elevation": table(["Elevation"], 500.0, skip=(2500002,)),
        "landcover": table([f"LandCover-{i}" for i in range(1, 14)], 1.0).abs(),
        "soilgrids": table([f"Soilgrid-{name}" for name in _SOILGRIDS], 50.0).abs(),
        "human_footprint": table([f"HumanFootprint-{n}" for n in _HUMAN_FOOTPRINT], 1.0).abs(),
    }
    tables["soilgrids"].loc[tables["soilgrids"].surveyId == 1001507, "Soilgrid-soc"] = FILL_VALUE
    for key, frame in tables.items():
        _write(root, paths[key], frame.to_csv(index=False).encode())

    tamper_marker = root.parent / f"{root.name}-TAMPERED"
    landsat, bioclim, tiffs, rgb, nir = {}, {}, {}, {}, {}

    def member(key: str, name: str) -> str:
        """Where a member sits in its archive: under PA-train/ (Seafile, see the YAML), in
        the zip's own folder (GLC24), directly in the folder (GLC25, Kaggle)."""
        if release == "seafile":
            return GEOPLANT_MEMBER_PREFIX + name
        location = paths[key]
        return f"{Path(location).stem}/{name}" if location.endswith(".zip") else name

    for sid, lon, lat, *_ in _SURVEYS:
        cube = torch.from_numpy(rng.normal(size=(6, 4, 21)).astype(np.float32))
        cube[:, 0, 0] = float("nan")  # real cubes have NaN quarters
        if sid == 4404403:
            cube = cube[:, :, :20]
        if sid != 1234:
            name = members["landsat"].format(surveyId=sid)
            landsat[member("landsat_cubes", name)] = _tensor_bytes(cube.clone())
        monthly = torch.from_numpy(rng.normal(size=(4, 19, 12)).astype(np.float32))
        name = member("bioclim_cubes", members["bioclim"].format(surveyId=sid))
        if sid == 3018575:
            tamper = io.BytesIO()
            torch.save({"cube": _Tamper(tamper_marker)}, tamper)
            bioclim[name] = tamper.getvalue()
        else:
            bioclim[name] = _tensor_bytes(monthly)
        if sid == 990017:
            continue
        pixels = _reflectances(rng)
        if sid == 212:
            pixels[:, :8, :8] = -1
        digits = str(sid)  # nested scheme: 212 -> 12/2/212.tiff
        nested = f"{digits[-2:]}/{digits[-4:-2]}/{sid}"
        if paths["sentinel2"]:
            tiff = _geotiff_bytes(pixels, lon, lat)
            tiffs[member("sentinel2", f"{nested}.tiff")] = (
                tiff[: len(tiff) // 3] if sid == 2500001 else tiff
            )
        else:
            colour, infrared = _jpeg_pair(pixels)
            rgb[f"pa_train_patches_rgb/{nested}.jpeg"] = (
                colour[: len(colour) // 3] if sid == 2500001 else colour
            )
            nir[f"pa_train_patches_nir/{nested}.jpeg"] = infrared
    _zip(root, paths["landsat_cubes"], landsat)
    _zip(root, paths["bioclim_cubes"], bioclim)
    if paths["sentinel2"]:
        _zip(root, paths["sentinel2"], tiffs)
    else:
        _zip(root, paths["sentinel2_rgb"], rgb)
        _zip(root, paths["sentinel2_nir"], nir)

    served = sorted(path for path in root.rglob("*") if path.is_file())
    return Fixture(
        root=root,
        files={path.relative_to(root).as_posix(): _sha256(path) for path in served},
        sample_ids=ids,
        species={sid: sorted(present) for sid, *_, present in _SURVEYS},
        problems=problems,
        # More than 2 surveys: species 1001, 1002, 1003 are kept, 1004 and 1005 dropped.
        reader_overrides={"species_filter": {"min_occurrences": 2, "max_species": None}},
        tamper_marker=tamper_marker,
    )


# ------------------------------------------------------------------------------ TaxaBench

_OBSERVATIONS = pd.read_csv(
    io.StringIO(
        """\
id,latitude,longitude,observed_on,scientific_name,common_name,taxon_id,iconic_taxon_name
10245871,38.627,-90.1994,2021-05-02,Turdus migratorius,American Robin,12727,Aves
10245902,40.7128,-74.006,2020-06-14,Turdus migratorius,American Robin,12727,Aves
11873004,51.5074,-0.1278,2019-04-21,Erithacus rubecula,European Robin,13094,Aves
12000517,48.8566,2.3522,2022-03-30,Erithacus rubecula,European Robin,13094,Aves
13311220,35.6762,139.6503,2021-08-09,Cicada orni,Grey Cicada,50190,Insecta
13500998,-33.8688,151.2093,2020-11-02,Litoria fallax,Eastern Dwarf Tree Frog,23525,Amphibia
14002376,37.7749,-122.4194,2018-02-17,Turdus migratorius,American Robin,12727,Aves
14100045,30.5,-30.5,2022-07-01,Puffinus puffinus,Manx Shearwater,4122,Aves
"""
    )
)
_OCEAN_LONGITUDES = (-40.0, -20.0)  # the fixture raster is NaN (sea) between these longitudes


def sound_frequency_hz(observation_id: int) -> float:
    """The pitch of the sine tone recorded for an observation of the TaxaBench fixture."""
    order = _OBSERVATIONS["id"].tolist().index(observation_id)
    return 200.0 + 100.0 * order


def _jpeg_bytes(rng: np.random.Generator, size: int) -> bytes:
    pixels = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def m4a_bytes(frequency_hz: float, seconds: float = 0.5, sample_rate: int = 22050) -> bytes:
    """A real AAC-in-MPEG-4 (.m4a) recording of a sine tone, encoded with PyAV."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    samples = (0.3 * np.sin(2 * np.pi * frequency_hz * t)).astype(np.float32)[None]
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="ipod") as container:
        stream = container.add_stream("aac", rate=sample_rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = sample_rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return buffer.getvalue()


def raster_cell(lat: float, lon: float, shape: tuple[int, int] = ENV_RASTER_SHAPE[:2]):
    """(row, column) of the equal-angle global raster cell holding (lat, lon)."""
    height, width = shape
    row = min(int((90.0 - lat) / 180.0 * height), height - 1)
    column = min(int((lon + 180.0) / 360.0 * width), width - 1)
    return row, column


def build_taxabench_fixture(root: str | Path, seed: int = 0) -> Fixture:
    """Write a TaxaBench-8k subset of 8 observations under `root`.

    Satellite tiles are named ``<id>_<lat>_<lon>.jpeg`` with the coordinates written otherwise
    than in the CSV (float32 text, as a JSON may hold them). Planted problems: 11873004 has no
    sound and 13311220 no ground image on the server; 13500998's sound is a truncated .m4a;
    14100045 lies over the sea, where the environment raster is NaN. Each sound is a sine whose
    pitch identifies the observation (`sound_frequency_hz`).
    """
    root = Path(root)
    files = dataset_config("taxabench")["files"]
    rng = np.random.default_rng(seed)
    obs, ids = _OBSERVATIONS, _OBSERVATIONS["id"]
    id_text = ids.astype(str)
    # iNaturalist export columns, in the export's order; to_csv adds the unnamed index column.
    observations = pd.DataFrame(
        {
            "id": ids,
            "observed_on": obs.observed_on,
            "time_observed_at": obs.observed_on + " 08:30:00 UTC",
            "user_id": 4000 + np.arange(len(obs)),
            "url": "https://www.inaturalist.org/observations/" + id_text,
            "image_url": "https://inaturalist-open-data.s3.amazonaws.com/photos/" + id_text,
            "sound_url": "https://static.inaturalist.org/sounds/" + id_text + ".m4a?1600000000",
            "latitude": obs.latitude,
            "longitude": obs.longitude,
            "positional_accuracy": 10 * (1 + np.arange(len(obs))),
            "species_guess": obs.common_name,
            "scientific_name": obs.scientific_name,
            "common_name": obs.common_name,
            "iconic_taxon_name": obs.iconic_taxon_name,
            "taxon_id": obs.taxon_id,
        }
    )
    _write(root, files["observations"]["path"], observations.to_csv().encode())
    names = np.array(sorted(set(obs.scientific_name)))  # unicode dtype: loads without pickle
    _write(root, files["taxa_names"]["path"], _npy_bytes(names))

    raster = rng.normal(size=ENV_RASTER_SHAPE).astype(np.float16)
    west, east = (raster_cell(0.0, lon)[1] for lon in _OCEAN_LONGITUDES)
    raster[:, west:east, :] = np.nan
    _write(root, files["environment"]["path"], _npy_bytes(raster))

    # Fill the templates from the CSV read as text, exactly as the downloader does.
    as_text = pd.read_csv(root / files["observations"]["path"], dtype=str, keep_default_na=False)
    no_image, no_sound, bad_sound = 13311220, 11873004, 13500998
    for record in as_text.to_dict("records"):
        oid = int(record["id"])
        image, tile = _jpeg_bytes(rng, 32), _jpeg_bytes(rng, 64)
        sound = m4a_bytes(frequency_hz=sound_frequency_hz(oid))
        if oid == bad_sound:
            sound = sound[: len(sound) // 4]
        if oid != no_image:
            _write(root, files["ground_images"]["path_template"].format(**record), image)
        if oid != no_sound:
            _write(root, files["sounds"]["path_template"].format(**record), sound)
        # The publisher named tiles from a JSON whose coordinates are not the CSV's text.
        published = {k: str(float(np.float32(record[k]))) for k in ("latitude", "longitude")}
        _write(root, files["satellite"]["path_template"].format(**{**record, **published}), tile)

    over_sea = obs.longitude.between(*_OCEAN_LONGITUDES, inclusive="left")
    served = sorted(path for path in root.rglob("*") if path.is_file())
    return Fixture(
        root=root,
        files={path.relative_to(root).as_posix(): _sha256(path) for path in served},
        sample_ids=ids.tolist(),
        species={oid: [name] for oid, name in zip(ids, obs.scientific_name, strict=True)},
        problems={
            "missing_file": {"sounds": [no_sound], "ground_images": [no_image]},
            "corrupt_file": {"sounds": [bad_sound]},
            "nan_values": {"environment": ids[over_sea].tolist()},
        },
        # At least 2 observations: Turdus migratorius and Erithacus rubecula are kept.
        reader_overrides={"species_filter": {"min_occurrences": 2, "max_species": 199}},
    )
