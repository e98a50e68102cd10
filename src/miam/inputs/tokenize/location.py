"""Location tokens and the global environment raster looked up by location.

Location: one token ``latlon`` holding sin and cos of ``f * pi * lon / 180`` and
``f * pi * lat / 90`` for each frequency f in `frequencies` (D = 4 * len(frequencies)); order
[sin lon, cos lon, sin lat, cos lat] per frequency, frequencies ascending.

Environment: TaxaBench-8k's ``bioclim_elevation_scaled.npy`` is a global (H, W, 20) float16
raster, WorldClim 2.1 at 5 arc-minutes (H, W = 2160, 4320), z-scored, channels elevation then
bio1..bio19, NaN over the sea. Row 0 is the northern edge (lat +90), column 0 the western edge
(lon -180), cells of equal angular size. The cell of a point is, as in TaxaBind's loader::

    row = floor((90 - lat) * H / 180)      col = floor((lon + 180) * W / 360)

clipped to [0, H-1] and [0, W-1] (lat = -90 and lon = +180 fall on the last cell). The resolution
comes from the array's shape, so a coarser raster (the synthetic benchmark's) uses the same code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

ENVIRONMENT_VARIABLES = ["elevation"] + [f"bio{i}" for i in range(1, 20)]
LOCATION_FREQUENCIES = (1, 2, 4, 8, 16, 32)


def valid_coordinates(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """True where (lat, lon) is finite and on the globe (|lat| <= 90, |lon| <= 180)."""
    lat, lon = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)


def location_features(
    lat: np.ndarray, lon: np.ndarray, frequencies=LOCATION_FREQUENCIES
) -> np.ndarray:
    """(N, 4 * len(frequencies)) float32 sinusoidal features of valid coordinates."""
    lon_angle = np.radians(np.asarray(lon, dtype=float))[:, None] * np.asarray(frequencies)
    lat_angle = 2 * np.radians(np.asarray(lat, dtype=float))[:, None] * np.asarray(frequencies)
    features = np.stack(
        [np.sin(lon_angle), np.cos(lon_angle), np.sin(lat_angle), np.cos(lat_angle)], axis=-1
    )  # (N, F, 4)
    return features.reshape(len(features), -1).astype(np.float32)


def raster_cell(lat: np.ndarray, lon: np.ndarray, shape: tuple[int, int]) -> tuple:
    """(row, col) integer arrays of the global equal-angle raster cell holding each point."""
    height, width = shape
    row = np.floor((90.0 - np.asarray(lat, dtype=float)) * height / 180.0).astype(np.int64)
    col = np.floor((np.asarray(lon, dtype=float) + 180.0) * width / 360.0).astype(np.int64)
    return np.clip(row, 0, height - 1), np.clip(col, 0, width - 1)


def cell_centres(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes (H,) of row centres, north first, and longitudes (W,) of column centres."""
    height, width = shape
    lat = 90.0 - (np.arange(height) + 0.5) * 180.0 / height
    lon = -180.0 + (np.arange(width) + 0.5) * 360.0 / width
    return lat, lon


def read_environment_raster(path: str | Path) -> np.ndarray:
    """The (H, W, 20) raster, memory-mapped; raises ValueError naming the file if unusable."""
    try:
        raster = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read the environment raster {path}: {error}") from error
    if raster.ndim != 3 or raster.shape[2] != len(ENVIRONMENT_VARIABLES):
        raise ValueError(
            f"environment raster {path} has shape {raster.shape}; expected (H, W, "
            f"{len(ENVIRONMENT_VARIABLES)}) = elevation, bio1..bio19"
        )
    return raster


def lookup_environment(raster: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """(N, 20) float32 values of the cells holding valid points (NaN where the raster has none)."""
    row, col = raster_cell(lat, lon, raster.shape[:2])
    return np.asarray(raster[row, col], dtype=np.float32)
