"""`synthetic-taxabench`: a generated stand-in for TaxaBench-8k, in its real file layout.

``generate(root, scale, seed)`` writes::

    test_df.csv                     one row per observation (iNaturalist export columns)
    taxa_names.npy                  (S,) str: scientific names, ordered by taxon_id
    taxabench_images/<id>.jpg       ground photo, 64x64 RGB JPEG
    taxabench_sound/<id>.wav        1-3.5 s mono 16 kHz PCM_16 call; absent for ~38 % of ids
    sat_images/sentinel/<id>.tif    4-band (R, G, B, NIR) uint8 64x64 GeoTIFF, EPSG:4326
    bioclim_elevation_scaled.npy    (360, 720, 20) float16 global raster, 0.5 degree cells
    synthetic_corruptions.json      which ids carry the planted faults (not in the real data)

and `miam.inputs.tokenize.taxabench` reads it exactly as it reads the real dataset.

How the signal is planted (so the modalities are imbalanced by construction):

- Ground image (dominant, learned fast): each species has an appearance (body colour x stripe
  colour, and a shape) drawn large near the centre at a random offset, size and angle over a
  lightly cluttered, noisy background. 30 % of the species are look-alikes of another (same
  appearance): the image alone cannot tell such twins apart.
- Audio (weak): each species calls in one of 8 frequency bands with its own pulse rhythm, twins in
  different bands, so audio separates them (and, more noisily, every other species too); but
  calls are faint over wind and a steady tone at some call frequency, and only ~62 % of
  observations have a recording.
- Location and environment (in between): each species lives around its own centre in the
  landscape box; environment = the landscape's elevation and bio1..bio19 in a coarse raster.
- Satellite (weak, but with information no other modality has): species prefer open ground,
  tree cover or neither, and each observation's place is drawn among nearby candidates by that
  preference; only the tile (`Landscape.tile`, whose NIR/red contrast shows the local canopy)
  sees it. Its ground colour also hints at the climate of the place (as location does).
- A cross-modal interaction: one species pair in `MORPH_PAIR_EVERY` swaps colour morphs with
  habitat (under tree cover each looks like the other in the open). Image alone and satellite
  alone say nothing about which member it is; together they do, so a late fusion of unimodal
  posteriors cannot be Bayes-optimal.
- Abundances are uneven (a Zipf-like law), so filtering by minimum occurrences matters.

The environment raster covers the globe at 0.5 degree, equal-angle cells, row 0 at lat +90 and
column 0 at lon -180, as the real 5 arc-minute file; cells touching the landscape box hold the
landscape's values, z-scored per variable over those cells, and all other cells are NaN (like
the real file's sea). Everything is a function of (seed, observation id), so chunked parallel
generation writes byte-identical files.
"""

from __future__ import annotations

import io
import itertools
import json
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile
from PIL import Image

from miam.core.hardware import usable_cores
from miam.inputs.datasets.landscape import DEFAULT_BBOX, Landscape, cached_landscape
from miam.inputs.tokenize.location import ENVIRONMENT_VARIABLES, cell_centres
from miam.inputs.tokenize.satellite import write_tile

OBSERVATIONS_CSV = "test_df.csv"
IMAGE_DIR = "taxabench_images"
SOUND_DIR = "taxabench_sound"
SATELLITE_DIR = "sat_images/sentinel"
ENVIRONMENT_RASTER = "bioclim_elevation_scaled.npy"
TAXA_NAMES = "taxa_names.npy"
CORRUPTIONS = "synthetic_corruptions.json"

IMAGE_SIZE = 64
TILE_SIZE = 64
SAMPLE_RATE = 16000
RASTER_CELL_DEGREES = 0.5
SOUND_SHARE = 0.62  # TaxaBench-8k has a recording for roughly this share of observations
JPEG_OPTIONS = {"quality": 90, "optimize": False, "progressive": False, "subsampling": 0}


@dataclass(frozen=True)
class Scale:
    n_observations: int
    n_species: int
    workers: int  # processes writing files; 1 = in this process


SCALES = {
    "tiny": Scale(n_observations=300, n_species=10, workers=1),
    "demo": Scale(n_observations=1600, n_species=30, workers=2),
    "paper": Scale(n_observations=9000, n_species=100, workers=8),
}

SHAPES = ("disc", "square", "triangle", "ring", "cross")
COLOURS = np.array(  # RGB 0-1, far apart from each other and from the greens of the background
    [[0.85, 0.15, 0.12], [0.95, 0.8, 0.1], [0.15, 0.3, 0.9], [0.9, 0.45, 0.85], [0.95, 0.95, 0.95]]
)
CANDIDATES = 8  # candidate places per observation, one kept by the species' canopy preference
TWIN_SHARE = 0.3  # share of species that look exactly like another species
# Pairs of species (one per MORPH_PAIR_EVERY species) whose colour morphs swap with habitat:
# under tree cover (canopy above MORPH_CANOPY) each looks like the other does in the open.
MORPH_PAIR_EVERY = 15
MORPH_CANOPY = 0.4
RECORDING_SECONDS = (1.0, 2.0)
REGULARISATION = 50.0  # C * number of features of the quick-check logistic regressions
CALL_FREQUENCIES = np.geomspace(700.0, 5000.0, 8)  # Hz
CALL_RATES = (1.5, 3.0, 6.0)  # pulses per second
EPITHETS = ("alba", "nigra", "rubra", "viridis", "minor", "major", "silvestris", "montana")
CSV_COLUMNS = [
    "id",
    "observed_on",
    "url",
    "image_url",
    "sound_url",
    "latitude",
    "longitude",
    "positional_accuracy",
    "scientific_name",
    "common_name",
    "iconic_taxon_name",
    "taxon_id",
]


# -- species ---------------------------------------------------------------------------------


def make_species(n_species: int, seed: int) -> pd.DataFrame:
    """One row per species: names, abundance weight, appearance, call and niche."""
    rng = np.random.default_rng([seed, 1])
    taxon_ids = np.sort(rng.choice(np.arange(10_000, 99_999), n_species, replace=False))
    # The last TWIN_SHARE of the species copy the appearance of the first ones (look-alikes).
    n_appearances = n_species - int(TWIN_SHARE * n_species)
    appearance = np.arange(n_species) % n_appearances
    n_colours = len(COLOURS)
    body_colour = appearance % n_colours
    stripe_colour = appearance // n_colours % n_colours  # equal to the body colour: plain
    # The shape follows the colours, and changes once all colour pairs are used (paper scale).
    shape = (appearance + appearance // n_colours + 2 * (appearance // n_colours**2)) % len(SHAPES)
    # Pair members get calls far apart: consecutive species step 3 frequency bands.
    call_band = (np.arange(n_species) * 3) % len(CALL_FREQUENCIES)
    call_rate = np.arange(n_species) // len(CALL_FREQUENCIES) % len(CALL_RATES)
    abundance = 1.0 / (rng.permutation(n_species) + 3.0) ** 0.7
    # Morph pairs among the species that have no twin: (t, t + 1), (t + 2, t + 3), ...
    first = int(TWIN_SHARE * n_species)
    partner = np.full(n_species, -1)
    for k in range(n_species // MORPH_PAIR_EVERY):
        a, b = first + 2 * k, first + 2 * k + 1
        if b < n_appearances:
            partner[a], partner[b] = b, a
    preference = rng.integers(-1, 2, n_species)
    preference[partner >= 0] = 0  # habitat alone does not tell a morph pair apart
    return pd.DataFrame(
        {
            "taxon_id": taxon_ids,
            "scientific_name": [
                f"Synthetica {EPITHETS[k % len(EPITHETS)]}{k // len(EPITHETS) or ''}"
                for k in range(n_species)
            ],
            "abundance": abundance / abundance.sum(),
            "body_shape": shape,
            "body_colour": body_colour,
            "stripe_colour": stripe_colour,
            "call_frequency": CALL_FREQUENCIES[call_band],
            "call_rate": np.asarray(CALL_RATES)[call_rate],
            # Niche centre and spread in box units (0-1).
            "niche_x": rng.uniform(0.15, 0.85, n_species),
            "niche_y": rng.uniform(0.15, 0.85, n_species),
            "niche_spread": rng.uniform(0.15, 0.3, n_species),
            # -1 open ground, 0 indifferent, +1 under trees: only satellite tiles show canopy.
            "canopy_preference": preference,
            # The other member of the species' morph pair, -1 if none.
            "morph_partner": partner,
        }
    )


def make_observations(
    species: pd.DataFrame, n: int, seed: int, landscape: Landscape
) -> pd.DataFrame:
    """The observation table, in the real CSV's columns, before any planted fault.

    Each observation is placed around its species' niche centre; of CANDIDATES such points the
    one kept is drawn with weight exp(3 * preference * (canopy - 0.4)), so forest species sit
    under trees and open-ground species in clearings.
    """
    rng = np.random.default_rng([seed, 2])
    k = rng.choice(len(species), size=n, p=species["abundance"].to_numpy())
    spread = species["niche_spread"].to_numpy()[k, None]
    shape = (n, CANDIDATES)
    x = np.clip(species["niche_x"].to_numpy()[k, None] + spread * rng.normal(size=shape), 0, 1)
    y = np.clip(species["niche_y"].to_numpy()[k, None] + spread * rng.normal(size=shape), 0, 1)
    lon_min, lat_min, lon_max, lat_max = landscape.bbox
    candidate_lon = np.round(lon_min + x * (lon_max - lon_min), 6)
    candidate_lat = np.round(lat_min + y * (lat_max - lat_min), 6)
    canopy = landscape.sample(candidate_lon.ravel(), candidate_lat.ravel())["canopy"]
    preference = species["canopy_preference"].to_numpy()[k, None]
    weight = np.exp(3.0 * preference * (canopy.reshape(shape) - 0.4))
    cumulative = np.cumsum(weight / weight.sum(1, keepdims=True), axis=1)
    chosen = np.minimum((cumulative < rng.random((n, 1))).sum(1), CANDIDATES - 1)
    rows = np.arange(n)
    ids = 100_000 + np.sort(rng.choice(900_000, n, replace=False))
    has_sound = rng.random(n) < SOUND_SHARE
    days = rng.integers(0, 9 * 365, n)
    return pd.DataFrame(
        {
            "id": ids,
            "observed_on": [str(date(2015, 1, 1) + timedelta(days=int(d))) for d in days],
            "url": [f"https://www.inaturalist.org/observations/{i}" for i in ids],
            "image_url": [f"https://example.org/photos/{i}/medium.jpg" for i in ids],
            "sound_url": [
                f"https://example.org/sounds/{i}.wav" if s else ""
                for i, s in zip(ids, has_sound, strict=True)
            ],
            "latitude": candidate_lat[rows, chosen],
            "longitude": candidate_lon[rows, chosen],
            "positional_accuracy": rng.integers(3, 200, n),
            "scientific_name": species["scientific_name"].to_numpy()[k],
            "common_name": "",
            "iconic_taxon_name": "Animalia",
            "taxon_id": species["taxon_id"].to_numpy()[k],
        },
        columns=CSV_COLUMNS,
    )


# -- ground image ----------------------------------------------------------------------------


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-test of a unit-size shape at object coordinates (u, v)."""
    r = np.hypot(u, v)
    if shape == "disc":
        return r < 1.0
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) < 0.85
    if shape == "triangle":
        return (v < 0.7) & (v > 2.0 * np.abs(u) - 1.0)
    if shape == "ring":
        return (r < 1.0) & (r > 0.55)
    if shape == "cross":
        return (np.minimum(np.abs(u), np.abs(v)) < 0.3) & (np.maximum(np.abs(u), np.abs(v)) < 1)
    raise ValueError(f"unknown shape {shape!r}")


def appearance_of(species: pd.DataFrame, k: int, canopy: float) -> tuple[int, int, int]:
    """(shape, body colour, stripe colour) species `k` shows at a place with this canopy: its
    own, or its morph partner's under trees."""
    partner = int(species["morph_partner"].iloc[k])
    shown = partner if partner >= 0 and canopy > MORPH_CANOPY else k
    row = species.iloc[shown]
    return int(row["body_shape"]), int(row["body_colour"]), int(row["stripe_colour"])


def render_image(appearance, rng: np.random.Generator, size: int = IMAGE_SIZE) -> np.ndarray:
    """(size, size, 3) uint8 photo: a (shape, body colour, stripe colour) organism over a
    cluttered, noisy background."""
    body_shape, body_colour, stripe_colour = appearance
    rows, cols = np.mgrid[0:size, 0:size].astype(float)
    # Background: a green-brown gradient plus a few muted clutter blobs.
    ground = rng.uniform([0.2, 0.3, 0.1], [0.45, 0.55, 0.3])
    image = ground + 0.15 * (rows / size - 0.5)[..., None] * rng.uniform(-1, 1, 3)
    for _ in range(rng.integers(1, 4)):
        centre, radius = rng.uniform(0, size, 2), rng.uniform(3, 8)
        blob = np.hypot(rows - centre[0], cols - centre[1]) < radius
        image = np.where(blob[..., None], rng.uniform(0.2, 0.5, 3), image)
    # The organism, framed near the centre as photographers do: random offset, size and angle.
    centre = rng.uniform(0.44 * size, 0.56 * size, 2)
    scale = rng.uniform(0.3, 0.38) * size
    angle = rng.uniform(0, 2 * np.pi)
    dy, dx = (rows - centre[0]) / scale, (cols - centre[1]) / scale
    u, v = np.cos(angle) * dx + np.sin(angle) * dy, -np.sin(angle) * dx + np.cos(angle) * dy
    body = _shape_mask(SHAPES[body_shape], u, v)
    lighting = rng.uniform(0.8, 1.05)
    # Stripes cover a third of the body, so body and stripe colours are not interchangeable.
    stripes = ((3 * u) % 2 < 2.0 / 3.0)[..., None]
    colour = lighting * np.where(stripes, COLOURS[stripe_colour], COLOURS[body_colour])
    image = np.where(body[..., None], colour, image)
    image = image + 0.08 * rng.standard_normal(image.shape)
    return np.clip(image * 255, 0, 255).round().astype(np.uint8)


# -- audio -----------------------------------------------------------------------------------


def render_call(species_row, rng: np.random.Generator) -> np.ndarray:
    """float32 mono recording at SAMPLE_RATE, 1-3.5 s: the species' pulsed call in noise."""
    n = int(SAMPLE_RATE * rng.uniform(*RECORDING_SECONDS))
    t = np.arange(n) / SAMPLE_RATE
    # Background: low-passed noise (wind) and a steady tone at some species' call frequency.
    noise = np.convolve(rng.standard_normal(n), np.ones(8) / 8, mode="same")
    signal = rng.uniform(0.03, 0.1) * noise / noise.std()
    distractor = rng.choice(CALL_FREQUENCIES) * rng.uniform(0.96, 1.04)
    signal += rng.uniform(0, 0.04) * np.sin(2 * np.pi * distractor * t)
    # Pulses of a slightly gliding tone at the species' frequency and rhythm.
    pulse_length = 0.6 / species_row.call_rate
    start = rng.uniform(0, 0.5)
    onsets = np.arange(start, t[-1] - pulse_length, 1.0 / species_row.call_rate)
    frequency = species_row.call_frequency * rng.uniform(0.96, 1.04)
    amplitude = rng.uniform(0.06, 0.2)
    for onset in onsets:
        inside = (t >= onset) & (t < onset + pulse_length)
        tau = t[inside] - onset
        envelope = np.sin(np.pi * tau / pulse_length) ** 2
        glide = frequency * (1 + 0.05 * tau / pulse_length)
        signal[inside] += amplitude * envelope * np.sin(2 * np.pi * glide * tau)
    return np.clip(signal, -1, 1).astype(np.float32)


# -- writing ---------------------------------------------------------------------------------


def _encode_jpeg(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="RGB").save(buffer, format="JPEG", **JPEG_OPTIONS)
    return buffer.getvalue()


def _write_chunk(root: str, seed: int, bbox, species: pd.DataFrame, chunk: pd.DataFrame) -> None:
    """Image, sound and tile files of the observations in `chunk`."""
    root = Path(root)
    landscape = cached_landscape(seed, tuple(bbox))
    index_of = {taxon: k for k, taxon in enumerate(species["taxon_id"])}
    fields = landscape.sample(chunk["longitude"].to_numpy(), chunk["latitude"].to_numpy())
    for i, obs in enumerate(chunk.itertuples(index=False)):
        k = index_of[obs.taxon_id]
        row = species.iloc[k]
        at = {name: values[i] for name, values in fields.items()}
        rng = np.random.default_rng([seed, 3, int(obs.id)])
        image = render_image(appearance_of(species, k, float(at["canopy"])), rng)
        (root / IMAGE_DIR / f"{obs.id}.jpg").write_bytes(_encode_jpeg(image))
        if obs.sound_url:
            wav = io.BytesIO()
            soundfile.write(wav, render_call(row, rng), SAMPLE_RATE, "PCM_16", format="WAV")
            (root / SOUND_DIR / f"{obs.id}.wav").write_bytes(wav.getvalue())
        tile = landscape.tile(obs.longitude, obs.latitude, size=TILE_SIZE, fields=at)
        write_tile(root / SATELLITE_DIR / f"{obs.id}.tif", tile, obs.longitude, obs.latitude)


def environment_raster(landscape: Landscape, cell_degrees: float = RASTER_CELL_DEGREES):
    """(H, W, 20) float16 global raster: z-scored landscape values over the box, NaN elsewhere."""
    shape = (round(180 / cell_degrees), round(360 / cell_degrees))
    lat, lon = cell_centres(shape)
    lon_min, lat_min, lon_max, lat_max = landscape.bbox
    half = cell_degrees / 2
    rows = np.flatnonzero((lat + half >= lat_min) & (lat - half <= lat_max))
    cols = np.flatnonzero((lon + half >= lon_min) & (lon - half <= lon_max))
    grid_lat, grid_lon = np.meshgrid(lat[rows], lon[cols], indexing="ij")
    points_lon, points_lat = grid_lon.ravel(), grid_lat.ravel()
    values = np.column_stack(
        [
            landscape.sample(points_lon, points_lat)["elevation"],
            landscape.bioclim(points_lon, points_lat),
        ]
    )
    values = (values - values.mean(0)) / np.where(values.std(0) > 0, values.std(0), 1.0)
    raster = np.full((*shape, len(ENVIRONMENT_VARIABLES)), np.nan, dtype=np.float16)
    raster[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] = values.reshape(
        len(rows), len(cols), -1
    )
    return raster


def plant_corruptions(root: Path, observations: pd.DataFrame, seed: int) -> dict[str, int]:
    """Break one observation per fault kind, chosen among the most common species (so that
    species filtering keeps it). Returns {fault: id}. Rewrites the CSV cells it breaks."""
    rng = np.random.default_rng([seed, 4])
    common = observations["taxon_id"].value_counts().index[:3]
    candidates = observations[observations["taxon_id"].isin(common)]
    with_sound = candidates[candidates["sound_url"] != ""]
    sound_id = int(rng.choice(with_sound["id"]))
    others = rng.choice(candidates.loc[candidates["id"] != sound_id, "id"], 4, replace=False)
    faults = {
        "truncated_wav": sound_id,
        "corrupt_image": int(others[0]),
        "truncated_tiff": int(others[1]),
        "out_of_range_coordinate": int(others[2]),
        "empty_csv_cell": int(others[3]),
    }
    wav = root / SOUND_DIR / f"{faults['truncated_wav']}.wav"
    wav.write_bytes(wav.read_bytes()[: wav.stat().st_size // 2])
    image = root / IMAGE_DIR / f"{faults['corrupt_image']}.jpg"
    image.write_bytes(rng.bytes(image.stat().st_size))
    tile = root / SATELLITE_DIR / f"{faults['truncated_tiff']}.tif"
    tile.write_bytes(tile.read_bytes()[: tile.stat().st_size // 3])
    observations.loc[observations["id"] == faults["out_of_range_coordinate"], "latitude"] = 123.4
    observations.loc[observations["id"] == faults["empty_csv_cell"], "latitude"] = np.nan
    return faults


def generate(root: str | Path, scale: str = "demo", seed: int = 0, corrupt: bool = True) -> Path:
    """Write the benchmark under `root` (replacing what is there); returns `root`."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; scales are {sorted(SCALES)}")
    config, bbox = SCALES[scale], DEFAULT_BBOX
    root = Path(root)
    if root.exists():
        shutil.rmtree(root)
    for folder in (IMAGE_DIR, SOUND_DIR, SATELLITE_DIR):
        (root / folder).mkdir(parents=True)
    species = make_species(config.n_species, seed)
    landscape = cached_landscape(seed, tuple(bbox))
    observations = make_observations(species, config.n_observations, seed, landscape)
    bounds = np.linspace(0, len(observations), config.workers * 4 + 1).astype(int)
    chunks = [observations.iloc[a:b] for a, b in itertools.pairwise(bounds)]
    workers = min(config.workers, usable_cores())  # same bytes for any count: per-id generators
    if workers == 1:
        for chunk in chunks:
            _write_chunk(str(root), seed, bbox, species, chunk)
    else:
        with ProcessPoolExecutor(workers) as pool:
            futures = [
                pool.submit(_write_chunk, str(root), seed, bbox, species, chunk) for chunk in chunks
            ]
            for future in futures:
                future.result()  # re-raises a worker's error here
    np.save(root / ENVIRONMENT_RASTER, environment_raster(landscape))
    np.save(root / TAXA_NAMES, species["scientific_name"].to_numpy().astype(str))
    faults = plant_corruptions(root, observations, seed) if corrupt else {}
    observations.to_csv(root / OBSERVATIONS_CSV, index=False, float_format="%.6f")
    (root / CORRUPTIONS).write_text(json.dumps(faults, indent=1, sort_keys=True))
    return root


# -- sites to predict, and the truth planted there --------------------------------------------

# Niche draws per species for the normaliser of the canopy-weighted placement.
TRUTH_DRAWS = 4000


def place_probability(
    species: pd.DataFrame, landscape: Landscape, lon: np.ndarray, lat: np.ndarray, seed: int
) -> np.ndarray:
    """(N, S) probability that an observation made at each place is of each species.

    An observation of species k is placed by its Gaussian niche, then among `CANDIDATES` such
    places by the weight w = exp(3 * preference * (canopy - 0.4)) (`make_observations`): its
    density is about niche_k(x) w_k(x) / E_niche_k[w_k] (edges of the box and the finite
    candidate count neglected). Weighted by abundance and normalised over species.
    """
    lon_min, lat_min, lon_max, lat_max = landscape.bbox
    x = (np.asarray(lon, float) - lon_min) / (lon_max - lon_min)
    y = (np.asarray(lat, float) - lat_min) / (lat_max - lat_min)
    canopy = landscape.sample(np.asarray(lon, float), np.asarray(lat, float))["canopy"]
    rng = np.random.default_rng([seed, 5])
    density = np.empty((len(x), len(species)))
    for k, row in enumerate(species.itertuples(index=False)):
        draws = np.clip(
            [row.niche_x, row.niche_y] + row.niche_spread * rng.normal(size=(TRUTH_DRAWS, 2)), 0, 1
        )
        draw_canopy = landscape.sample(
            lon_min + draws[:, 0] * (lon_max - lon_min), lat_min + draws[:, 1] * (lat_max - lat_min)
        )["canopy"]
        normaliser = np.exp(3.0 * row.canopy_preference * (draw_canopy - 0.4)).mean()
        niche = np.exp(
            -((x - row.niche_x) ** 2 + (y - row.niche_y) ** 2) / (2 * row.niche_spread**2)
        )
        weight = np.exp(3.0 * row.canopy_preference * (canopy - 0.4)) / normaliser
        density[:, k] = row.abundance * niche / row.niche_spread**2 * weight
    return density / density.sum(1, keepdims=True)


def generate_sites(
    root: str | Path,
    lon: np.ndarray,
    lat: np.ndarray,
    scale: str = "demo",
    seed: int = 0,
) -> pd.DataFrame:
    """Label-free observations at (`lon`, `lat`) in the benchmark's layout, as a place to
    predict has them: a satellite tile and the environment raster, no photo, no recording
    (empty `taxon_id`; the photo and sound folders exist, empty).

    Returns the planted truth: one row per site (id, lon, lat) and a column per species
    (scientific name) with the probability that an observation there is of it
    (`place_probability`).
    """
    root = Path(root)
    if root.exists():
        shutil.rmtree(root)
    for folder in (IMAGE_DIR, SOUND_DIR, SATELLITE_DIR):
        (root / folder).mkdir(parents=True)
    species = make_species(SCALES[scale].n_species, seed)
    landscape = cached_landscape(seed, tuple(DEFAULT_BBOX))
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    ids = np.arange(1, len(lon) + 1)
    fields = landscape.sample(lon, lat)
    for i, site in enumerate(ids):
        at = {name: values[i] for name, values in fields.items()}
        tile = landscape.tile(lon[i], lat[i], size=TILE_SIZE, fields=at)
        write_tile(root / SATELLITE_DIR / f"{site}.tif", tile, lon[i], lat[i])
    np.save(root / ENVIRONMENT_RASTER, environment_raster(landscape))
    np.save(root / TAXA_NAMES, species["scientific_name"].to_numpy().astype(str))
    table = pd.DataFrame({"id": ids, "latitude": lat, "longitude": lon, "taxon_id": ""})
    table.reindex(columns=CSV_COLUMNS).to_csv(root / OBSERVATIONS_CSV, index=False)
    truth = place_probability(species, landscape, lon, lat, seed)
    return pd.concat(
        [
            pd.DataFrame({"id": ids, "lon": lon, "lat": lat}),
            pd.DataFrame(truth, columns=species["scientific_name"]),
        ],
        axis=1,
    )


# -- the imbalance check ---------------------------------------------------------------------


def top1_scores(
    tokens, combinations: list[list[str]], seed: int = 0, test_share: float = 0.3
) -> dict[str, float]:
    """Test top-1 accuracy of a simple late-fusion model per modality combination.

    One multinomial logistic regression per modality on its flattened tokens (standardised,
    fitted on the training samples that have the modality); a combination adds the modalities'
    log-probabilities minus the log class prior once per extra modality (naive-Bayes fusion),
    a sample lacking a modality taking the prior for it. One stratified random split (seeded)
    for everything. This is the quick check behind the numbers in datasets/README.md.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    n_classes = tokens.n_classes
    train, test = train_test_split(
        np.arange(tokens.n_samples),
        test_size=test_share,
        random_state=seed,
        stratify=tokens.targets,
    )
    counts = np.bincount(tokens.targets[train], minlength=n_classes) + 1.0
    log_prior = np.log(counts / counts.sum())
    log_proba = {}  # modality -> (n_test, C) log p(class | modality)
    for name in {name for names in combinations for name in names}:
        modality = tokens.modality(name)
        features = modality.values.reshape(tokens.n_samples, -1)
        present = modality.present.any(axis=1)
        fit_rows, test_rows = train[present[train]], test[present[test]]
        # Regularisation grows with the dimension, so that wide tile/photo tokens do not give
        # overconfident (and in fusion, overbearing) probabilities.
        strength = REGULARISATION / features.shape[1]
        model = make_pipeline(StandardScaler(), LogisticRegression(C=strength, max_iter=500))
        model.fit(features[fit_rows], tokens.targets[fit_rows])
        scores = np.tile(log_prior, (len(test), 1))
        columns = model.classes_  # classes seen in training, a subset of all
        scores[np.ix_(present[test], columns)] = model.predict_log_proba(features[test_rows])
        log_proba[name] = scores
    return {
        "+".join(names): float(
            np.mean(
                (sum(log_proba[n] for n in names) - (len(names) - 1) * log_prior).argmax(1)
                == tokens.targets[test]
            )
        )
        for names in combinations
    }
