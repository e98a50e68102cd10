"""A generated landscape: deterministic, spatially correlated environmental fields by lon/lat.

The embedded benchmarks (`synthetic-geoplant`, `synthetic-taxabench`) draw every input from one
`Landscape`, so that climate, soil, vegetation and satellite tiles agree with each other the way
real layers do. Everything is a pure function of `(seed, lon, lat)` (and `year` for the yearly
series): the same seed gives the same values whatever order or chunking the caller uses, which
is what lets the generators run in parallel shards and still write byte-identical files.

Fields (all vectorised over points, see `Landscape.sample`):

- ``elevation`` (m): rolling hills plus one mountain range in the south-east of the box.
- ``tas`` (degC): annual mean temperature; cooler to the north and with altitude (6.5 degC/km).
- ``tas_amplitude`` (degC): summer-winter contrast, growing eastwards (continentality).
- ``diurnal_range`` (degC): day-night contrast.
- ``precip`` (mm/year): wetter to the west and with altitude; ``precip_seasonality`` (0-1):
  share of the rain falling in winter rather than summer.
- ``warming`` (degC): how much warmer 2000-2020 is than the long-term climatology; spatially
  uneven, so the yearly series and the Bio variables (climatology) disagree by this much.
- ``heatwave`` (degC): the summer temperature anomaly of the planted heatwave year
  (`HEATWAVE_YEAR`), a regional blob; zero in every other year. Only yearly climate shows it.
- ``greenness`` (0-1): vegetation vigour from land use, fine-scale and unrelated to climate
  (Landsat time series see it through the seasons; a single satellite tile only at its
  acquisition date).
- ``canopy`` (0-1): fine-scale tree cover (hedges, copses) that varies from one survey to the
  next and is unrelated to climate: only the 10 m satellite tile shows it.
- soil: ``bdod, cec, cfvo, clay, nitrogen, phh2o, sand, silt, soc`` in SoilGrids units.
- ``landcover`` (N, 13): fractions of 13 land-cover classes (rows sum to 1);
  ``landcover_class``: the dominant one.

Derived products: `monthly_climate` (pr, tas, tasmax, tasmin per year and month),
`bioclim` (the 19 WorldClim/CHELSA BIO variables of the climatology), `landsat` (6 bands x
4 quarters per year) and `tile` (a 4-band R, G, B, NIR uint8 Sentinel-2-like patch).
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np
from scipy.ndimage import gaussian_filter, map_coordinates

# Western Europe, roughly France: (lon_min, lat_min, lon_max, lat_max).
DEFAULT_BBOX = (-4.5, 42.5, 8.0, 51.0)
HEATWAVE_YEAR = 2003
# Spatial spread (degC, one standard deviation) of the recent warming: how far the long-term
# climatology (the Bio variables) drifts from the recent years (the climate cubes).
WARMING_SPREAD = 1.5
SOIL_VARIABLES = ("bdod", "cec", "cfvo", "clay", "nitrogen", "phh2o", "sand", "silt", "soc")
N_LANDCOVER = 13
CLIMATE_VARIABLES = ("pr", "tas", "tasmax", "tasmin")
LANDSAT_BANDS = ("red", "green", "blue", "nir", "swir1", "swir2")
TILE_BANDS = ("R", "G", "B", "NIR")

# Reflectance (0-1) of the three surface types in the bands R, G, B, NIR, SWIR1, SWIR2.
_TREE = np.array([0.03, 0.06, 0.03, 0.42, 0.18, 0.08])
_GRASS = np.array([0.06, 0.10, 0.05, 0.30, 0.22, 0.12])
_SOIL = np.array([0.22, 0.18, 0.14, 0.28, 0.35, 0.28])


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise, rescaled to mean 0 and standard deviation 1."""
    field = gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return (field - field.mean()) / field.std()


def _climatology(fields: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(N, 12) monthly precipitation (mm) and mean temperature (degC) of an average year."""
    season = -np.cos(2 * np.pi * (np.arange(12) - 0.1) / 12)  # -1 in January, +1 in July
    tas = fields["tas"][:, None] + fields["tas_amplitude"][:, None] * season / 2
    rain_share = 1.0 - 0.8 * fields["precip_seasonality"][:, None] * season
    return fields["precip"][:, None] / 12 * rain_share, tas


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


class Landscape:
    """Deterministic environmental fields over `bbox`, looked up by lon/lat.

    Points outside the box read the nearest edge value (fields are clamped, never NaN).
    """

    def __init__(self, seed: int = 0, bbox: tuple[float, float, float, float] = DEFAULT_BBOX):
        self.seed = int(seed)
        self.bbox = tuple(float(v) for v in bbox)
        rng = np.random.default_rng([self.seed, 7531])
        coarse, fine = (160, 160), (1024, 1024)
        # One z-scored latent field per driver; sigma in grid cells sets its correlation length.
        self._coarse = {
            name: _smooth_field(rng, coarse, sigma)
            for name, sigma in [
                ("hills", 6.0),
                ("temperature", 14.0),
                ("amplitude", 20.0),
                ("diurnal", 16.0),
                ("precip", 10.0),
                ("seasonality", 18.0),
                ("ph", 9.0),
                ("texture", 8.0),
                ("organic", 7.0),
                ("stones", 5.0),
                ("lc_a", 4.0),
                ("lc_b", 4.0),
                ("warming", 6.0),
            ]
        }
        # Fine grid: correlation length ~0.01 degree, far below the spacing of surveys.
        self._canopy = _smooth_field(rng, fine, 1.5)
        self._vigour = _smooth_field(rng, fine, 2.0)
        # A mountain range and the heatwave region, placed at random inside the box.
        self._mountain = rng.uniform([0.6, 0.1], [0.85, 0.35])  # (x, y) in box units
        self._heatwave_centre = rng.uniform([0.3, 0.3], [0.7, 0.7])
        self._landcover_weights = rng.normal(0.0, 1.0, (N_LANDCOVER, 5))
        # Random Fourier features of the yearly climate anomalies (per year: 6 waves).
        self._year_waves = rng.normal(0.0, 2.5, (200, 6, 2, 2))  # year, wave, quantity, x/y
        self._year_phases = rng.uniform(0, 2 * np.pi, (200, 6, 2))

    # -- lookup ---------------------------------------------------------------------------------

    def _unit(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        """Position in box units (0-1), clamped to the box."""
        lon_min, lat_min, lon_max, lat_max = self.bbox
        x = np.clip((np.asarray(lon, float) - lon_min) / (lon_max - lon_min), 0.0, 1.0)
        y = np.clip((np.asarray(lat, float) - lat_min) / (lat_max - lat_min), 0.0, 1.0)
        return x, y

    @staticmethod
    def _lookup(grid: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Bilinear interpolation of `grid` at box units (x east, y north)."""
        rows = (1.0 - y) * (grid.shape[0] - 1)
        cols = x * (grid.shape[1] - 1)
        return map_coordinates(grid, [rows.ravel(), cols.ravel()], order=1).reshape(x.shape)

    def sample(self, lon, lat) -> dict[str, np.ndarray]:
        """Every field at the points (lon, lat); arrays of the points' shape ((N, 13) for
        ``landcover``)."""
        x, y = self._unit(np.atleast_1d(lon), np.atleast_1d(lat))
        z = {name: self._lookup(grid, x, y) for name, grid in self._coarse.items()}
        mx, my = self._mountain
        ridge = np.exp(-(((x - mx) / 0.12) ** 2 + ((y - my) / 0.25) ** 2))
        elevation = np.clip(250.0 + 220.0 * z["hills"] + 2600.0 * ridge, 0.0, None)
        tas = 15.5 - 7.5 * y + 1.0 * z["temperature"] - 6.5 * elevation / 1000.0
        precip = 850.0 - 300.0 * x + 180.0 * z["precip"] + 0.5 * elevation
        hx, hy = self._heatwave_centre
        heatwave = 7.0 * np.exp(-(((x - hx) ** 2 + (y - hy) ** 2) / 0.03))
        # Vigour from land management and history, not from climate: only imagery shows it.
        greenness = _sigmoid(1.4 * self._lookup(self._vigour, x, y))
        canopy = _sigmoid(1.6 * self._lookup(self._canopy, x, y) - 0.6)
        clay = 120 + 25 * (np.tanh(z["texture"]) + 1) * 4
        sand = 200 + 30 * (np.tanh(-z["texture"]) + 1) * 6
        silt = 1000.0 - clay - sand
        soc = np.exp(3.6 + 0.35 * z["organic"] + 0.0004 * elevation)
        soil = {
            "bdod": 140.0 - 0.25 * soc + 4.0 * z["stones"],
            "cec": 100.0 + 0.6 * clay / 4 + 0.4 * soc,
            "cfvo": np.clip(120.0 + 60.0 * z["stones"] + 0.05 * elevation, 0, None),
            "clay": clay,
            "nitrogen": 0.08 * soc * (1.0 + 0.1 * z["organic"]) * 10,
            "phh2o": 63.0 + 9.0 * z["ph"],
            "sand": sand,
            "silt": silt,
            "soc": soc,
        }
        drivers = np.stack(
            [elevation / 800.0 - 0.5, z["lc_a"], z["lc_b"], z["ph"], z["stones"]], -1
        )
        scores = 2.5 * drivers @ self._landcover_weights.T
        landcover = np.exp(scores - scores.max(-1, keepdims=True))
        landcover /= landcover.sum(-1, keepdims=True)
        return {
            "elevation": elevation,
            "tas": tas,
            "tas_amplitude": 7.0 + 4.0 * x + 1.0 * z["amplitude"] + 0.5 * y,
            "diurnal_range": 9.0 + 1.5 * z["diurnal"] + 2.0 * x,
            "precip": np.clip(precip, 200.0, None),
            "precip_seasonality": _sigmoid(0.8 * z["seasonality"] - 1.5 * (x - 0.5)),
            "heatwave": heatwave,
            "warming": 1.2 + WARMING_SPREAD * z["warming"],
            "greenness": greenness,
            "canopy": canopy,
            **{name: np.asarray(soil[name]) for name in SOIL_VARIABLES},
            "landcover": landcover,
            "landcover_class": landcover.argmax(-1),
        }

    # -- climate --------------------------------------------------------------------------------

    def _year_anomaly(self, x, y, year: int) -> np.ndarray:
        """(N, 2) smooth yearly anomalies of temperature (degC) and precipitation (fraction)."""
        k = (year - 1900) % len(self._year_waves)
        phase = (
            x[:, None, None] * self._year_waves[k, ..., 0]
            + y[:, None, None] * self._year_waves[k, ..., 1]
            + self._year_phases[k]
        )  # (N, 6, 2)
        return np.cos(phase).sum(1) * np.array([0.35, 0.06])

    def monthly_climate(self, lon, lat, years) -> np.ndarray:
        """(N, 4, Y, 12) float32: pr (mm/month), tas, tasmax, tasmin (degC) per year and month.

        The years are the recent climate: the climatology plus `warming` plus yearly anomalies.
        The planted heatwave adds `heatwave` degC to tas/tasmax (and 60 % of it to tasmin) in
        June-August of `HEATWAVE_YEAR` and cuts summer rain by half where it is strong.
        """
        fields = self.sample(lon, lat)
        x, y = self._unit(np.atleast_1d(lon), np.atleast_1d(lat))
        pr, tas = _climatology(fields)
        tas = tas + fields["warming"][:, None]
        months = np.arange(12)
        out = np.empty((len(x), 4, len(years), 12), dtype=np.float64)
        summer = (months >= 5) & (months <= 7)
        for i, year in enumerate(years):
            temperature, wet = self._year_anomaly(x, y, int(year)).T
            year_tas = tas + temperature[:, None]
            year_pr = pr * (1.0 + wet[:, None])
            if int(year) == HEATWAVE_YEAR:
                hot = fields["heatwave"][:, None] * summer
                year_tas = year_tas + hot
                year_pr = year_pr * (1.0 - 0.07 * hot)
            half_range = fields["diurnal_range"][:, None] / 2
            out[:, 0, i] = np.clip(year_pr, 0.0, None)
            out[:, 1, i] = year_tas
            out[:, 2, i] = year_tas + half_range
            out[:, 3, i] = year_tas - half_range
        return out.astype(np.float32)

    def bioclim(self, lon, lat) -> np.ndarray:
        """(N, 19) float32 BIO1..BIO19 of the long-term climatology (no `warming`, no yearly
        anomalies, no heatwave), computed with the WorldClim definitions."""
        fields = self.sample(lon, lat)
        n = len(fields["tas"])
        pr, tas = _climatology(fields)
        months = np.arange(12)
        tmax = tas + fields["diurnal_range"][:, None] / 2
        tmin = tas - fields["diurnal_range"][:, None] / 2
        quarters = np.stack([np.roll(months, -s)[:3] for s in range(12)])  # 12 rolling quarters
        q_tas = tas[:, quarters].mean(-1)  # (N, 12)
        q_pr = pr[:, quarters].sum(-1)
        rows = np.arange(n)
        bio = np.empty((n, 19))
        bio[:, 0] = tas.mean(1)
        bio[:, 1] = (tmax - tmin).mean(1)
        bio[:, 4] = tmax.max(1)
        bio[:, 5] = tmin.min(1)
        bio[:, 6] = bio[:, 4] - bio[:, 5]
        bio[:, 2] = 100 * bio[:, 1] / bio[:, 6]
        bio[:, 3] = 100 * tas.std(1)
        bio[:, 7] = q_tas[rows, q_pr.argmax(1)]
        bio[:, 8] = q_tas[rows, q_pr.argmin(1)]
        bio[:, 9] = q_tas.max(1)
        bio[:, 10] = q_tas.min(1)
        bio[:, 11] = pr.sum(1)
        bio[:, 12] = pr.max(1)
        bio[:, 13] = pr.min(1)
        bio[:, 14] = 100 * pr.std(1) / pr.mean(1)
        bio[:, 15] = q_pr.max(1)
        bio[:, 16] = q_pr.min(1)
        bio[:, 17] = q_pr[rows, q_tas.argmax(1)]
        bio[:, 18] = q_pr[rows, q_tas.argmin(1)]
        return bio.astype(np.float32)

    # -- remote sensing -------------------------------------------------------------------------

    def landsat(self, lon, lat, years) -> np.ndarray:
        """(N, 6, 4, Y) float32 Landsat-like reflectance x 100 (red, green, blue, nir, swir1,
        swir2; 4 quarters; years). Shows `greenness` with its phenology and the heatwave's
        browning, not the fine-scale `canopy`."""
        fields = self.sample(lon, lat)
        x, y = self._unit(np.atleast_1d(lon), np.atleast_1d(lat))
        phenology = np.array([0.45, 1.0, 0.8, 0.55])  # vegetation vigour per quarter
        out = np.empty((len(x), 6, 4, len(years)))
        for i, year in enumerate(years):
            wet = self._year_anomaly(x, y, int(year))[:, 1]
            vigour = fields["greenness"][:, None] * phenology * (1.0 + 0.8 * wet[:, None])
            if int(year) == HEATWAVE_YEAR:
                vigour[:, 2] *= np.exp(-0.15 * fields["heatwave"])
            vigour = np.clip(vigour, 0.0, 1.0)
            # Mixture of grass and bare soil; the tree canopy is below Landsat's resolution here.
            reflectance = vigour[..., None] * _GRASS + (1.0 - vigour[..., None]) * _SOIL
            out[:, :, :, i] = 100.0 * reflectance.transpose(0, 2, 1)
        return out.astype(np.float32)

    def _location_rng(self, lon: float, lat: float) -> np.random.Generator:
        """A generator seeded by the landscape seed and the point (to 1e-6 degree)."""
        key = f"{self.seed}:{round(float(lon) * 1e6)}:{round(float(lat) * 1e6)}".encode()
        return np.random.default_rng(int.from_bytes(hashlib.sha256(key).digest()[:8], "little"))

    def tile(
        self, lon: float, lat: float, size: int = 64, fields: dict | None = None
    ) -> np.ndarray:
        """(4, size, size) uint8 R, G, B, NIR patch centred on (lon, lat), 10 m pixels.

        Trees cover a `canopy` share of the pixels in clumps (high NIR, low red); the rest is
        grass over bare soil. The grass shows the `greenness` vigour, scaled by a random
        acquisition season and by how wet the place is, and is yellower where it is warm; dry
        soil is brighter (`climate_look`). So the tile's mean NIR/red contrast shows the local
        canopy, which no other input shows, and its ground colour gives a noisy view of
        greenness and of the recent climate, which the time series show far more clearly.
        Deterministic per location. `fields`: this point's `sample` values (scalars), when the
        caller has them already.
        """
        if fields is None:
            fields = {k: v[0] for k, v in self.sample(lon, lat).items()}
        canopy, greenness = float(fields["canopy"]), float(fields["greenness"])
        warmth, wetness = climate_look(fields["tas"] + fields["warming"], fields["precip"])
        rng = self._location_rng(lon, lat)
        clumps = gaussian_filter(rng.standard_normal((size, size)), 5.0, mode="wrap")
        trees = clumps >= np.quantile(clumps, 1.0 - canopy)
        # One acquisition date: the season scales the vigour the tile shows.
        season = rng.uniform(0.5, 1.0)
        vigour = season * greenness * (0.5 + 0.5 * float(wetness))
        vigour = np.clip(vigour + 0.05 * rng.standard_normal((size, size)), 0, 1)
        # Warm places have yellower grass (more red, less green); dry soil is brighter.
        grass = _GRASS[:4] * (1.0 + (float(warmth) - 0.5) * np.array([0.8, -0.3, 0.0, -0.2]))
        soil = _SOIL[:4] * (1.25 - 0.5 * float(wetness))
        ground = vigour[..., None] * grass + (1 - vigour[..., None]) * soil
        reflectance = np.where(trees[..., None], _TREE[:4], ground)
        reflectance = reflectance + 0.01 * rng.standard_normal(reflectance.shape)
        # 0.5 reflectance maps to 255, as in 8-bit Sentinel-2 quicklooks.
        return np.clip(reflectance * 510.0, 0, 255).round().astype(np.uint8).transpose(2, 0, 1)


@functools.lru_cache(maxsize=4)
def cached_landscape(seed: int, bbox: tuple[float, float, float, float]) -> Landscape:
    """One `Landscape` per (seed, bbox) and process: building one costs ~0.4 s (the fine
    fields), which generator workers would otherwise pay for every chunk."""
    return Landscape(seed, bbox)


def climate_look(temperature, precip) -> tuple[np.ndarray, np.ndarray]:
    """(warmth, wetness), each 0-1: what the recent climate does to the ground's colour in a
    tile. Temperature in degC, precipitation in mm/year; 0.5 at 10.5 degC and 930 mm, the
    middle of the default box."""
    t = (np.asarray(temperature, float) - 10.5) / 3.0
    p = (np.log(np.asarray(precip, float)) - np.log(930.0)) / 0.3
    return _sigmoid(1.5 * t), _sigmoid(1.5 * p)
