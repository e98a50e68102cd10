"""Rasters sampled at the samples' points: one scalar token per file and band.

Any GDAL raster (GeoTIFF, COG, VRT, NetCDF through GDAL...) in any CRS and dtype. Points are
reprojected from lon/lat to the raster's CRS and read cell by cell, so a continental raster is
never loaded whole; a raster small enough (`WHOLE_READ_BYTES`) is read once. Per point and band:
the raster's nodata (or mask), NaN and fill values (+-inf, |x| > 1e10) are ``nan_values``, a
point off the raster ``out_of_range`` (with the raster's CRS and bounds; when every point is off
it, a warning on the console says so), a cell whose block cannot be read (a truncated file)
``corrupt_file``; all make the token absent. A raster that cannot be opened makes its tokens
absent for every sample (``corrupt_file``); it then has as many tokens as `bands` names, or one.
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.transform import rowcol
from rasterio.warp import transform
from rasterio.windows import Window

from miam.core.console import CONSOLE
from miam.inputs.quality import QualityLog, fill_values

log = logging.getLogger(__name__)

WHOLE_READ_BYTES = 256 * 2**20


def band_token_names(path: Path, band_index: list[int], descriptions, count: int) -> list[str]:
    """``<stem>`` for a one-band file, else ``<stem>/<description or b<i>>``."""
    if count == 1 and band_index == [1]:
        return [path.stem]
    labels = []
    for band in band_index:
        known = descriptions and band <= len(descriptions)
        text = (descriptions[band - 1] if known else None) or ""
        labels.append(re.sub(r"[\s*?\[\]/]+", "_", text.strip()) or f"b{band}")
    if len(set(labels)) < len(labels):
        labels = [f"b{band}" for band in band_index]
    return [f"{path.stem}/{label}" for label in labels]


def sample_rasters(
    paths: list[Path],
    bands: list[int] | None,
    lon: np.ndarray,
    lat: np.ndarray,
    sample_ids: np.ndarray,
    quality: QualityLog,
    modality: str,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """values (N, T, 1) float32, present (N, T), token names, over every file and band."""
    blocks, present_blocks, names = [], [], []
    for path in paths:
        values, present, file_names = _sample_one(
            path, bands, lon, lat, sample_ids, quality, modality
        )
        blocks.append(values)
        present_blocks.append(present)
        names += file_names
    if len(set(names)) < len(names):
        raise ValueError(f"{modality}: two rasters give the same token names {names}")
    values = np.concatenate(blocks, axis=1)
    present = np.concatenate(present_blocks, axis=1)
    return np.where(present, values, 0.0).astype(np.float32)[..., None], present, names


def _sample_one(path, bands, lon, lat, sample_ids, quality, modality):
    n = len(sample_ids)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            dataset = rasterio.open(path)
    except RasterioError as error:
        band_index = bands or [1]
        names = band_token_names(path, band_index, None, len(band_index))
        log.warning("%s: cannot open %s (%s): its tokens are absent", modality, path, error)
        for sample_id in sample_ids:
            quality.record(modality, "corrupt_file", sample_id, path, error)
        return np.zeros((n, len(names))), np.zeros((n, len(names)), bool), names
    with dataset:
        band_index = bands or list(range(1, dataset.count + 1))
        if max(band_index) > dataset.count:
            raise ValueError(
                f"{modality}: bands {band_index} asked of {path}, which has {dataset.count}"
            )
        names = band_token_names(path, band_index, dataset.descriptions, dataset.count)
        values = np.full((n, len(band_index)), np.nan)
        checked = np.zeros(n, bool)  # read from the raster: empty values are nan_values
        points = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))
        if len(points):
            rows, cols = _cells(dataset, lon[points], lat[points])
            on_raster = (rows >= 0) & (rows < dataset.height) & (cols >= 0) & (cols < dataset.width)
            off = points[~on_raster]
            extent = _extent(dataset)
            if len(off) and len(off) == len(points):
                log.warning(
                    "%s: all %d points lie outside %s (%s); they span %s: a raster of another "
                    "region, or coordinates in another CRS than the table says?",
                    modality,
                    len(points),
                    path,
                    extent,
                    _span(lon[points], lat[points]),
                    extra={CONSOLE: True},
                )
            for i in off:
                quality.record(
                    modality,
                    "out_of_range",
                    sample_ids[i],
                    path,
                    f"lon {lon[i]:.5f}, lat {lat[i]:.5f} lies outside the raster ({extent}); "
                    f"{len(off)} of {len(points)} points do",
                )
            points, rows, cols = points[on_raster], rows[on_raster], cols[on_raster]
            values[points], unreadable = _read_cells(
                dataset, band_index, rows, cols, sample_ids[points], quality, modality, path
            )
            checked[points[~unreadable]] = True
        values[fill_values(values)] = np.nan  # fill values (+-inf, |x| > 1e10): no value
        read = np.isfinite(values)
        for i in np.flatnonzero(checked & ~read.all(axis=1)):
            empty = [names[j] for j in np.flatnonzero(~read[i])]
            quality.record(
                modality, "nan_values", sample_ids[i], path, f"no value for {', '.join(empty)}"
            )
    return np.nan_to_num(values), read, names


def _extent(dataset) -> str:
    """The raster's CRS and bounds, as the quality report names them."""
    left, bottom, right, top = dataset.bounds
    crs = dataset.crs.to_string() if dataset.crs is not None else "no CRS"
    return f"{crs}, x {left:.6g} to {right:.6g}, y {bottom:.6g} to {top:.6g}"


def _span(lon: np.ndarray, lat: np.ndarray) -> str:
    return f"lon {lon.min():.4g} to {lon.max():.4g}, lat {lat.min():.4g} to {lat.max():.4g}"


def _cells(dataset, lon, lat):
    """Row and column of each lon/lat point in `dataset` (reprojected to its CRS)."""
    x, y = np.asarray(lon, float), np.asarray(lat, float)
    if dataset.crs is not None and dataset.crs != CRS.from_epsg(4326):
        x, y = (np.asarray(v) for v in transform("EPSG:4326", dataset.crs, x, y))
    rows, cols = rowcol(dataset.transform, x, y, op=np.floor)
    return np.asarray(rows, np.int64), np.asarray(cols, np.int64)


def _read_cells(dataset, band_index, rows, cols, sample_ids, quality, modality, path):
    """(P, B) values of the cells (NaN where masked, NaN or unreadable), and (P,) True where
    the cell could not be read (recorded)."""
    out = np.full((len(rows), len(band_index)), np.nan)
    unreadable = np.zeros(len(rows), bool)
    size = dataset.width * dataset.height * len(band_index) * np.dtype(dataset.dtypes[0]).itemsize
    if size <= WHOLE_READ_BYTES:
        try:
            data = dataset.read(band_index, masked=True)
        except RasterioError:
            data = None  # some blocks are unreadable: read cell by cell below
        if data is not None:
            cells = data[:, rows, cols].astype(np.float64)  # (B, P)
            return np.ma.filled(cells, np.nan).T, unreadable
    for p, (row, col) in enumerate(zip(rows, cols, strict=True)):
        try:
            cell = dataset.read(band_index, window=Window(int(col), int(row), 1, 1), masked=True)
        except RasterioError as error:
            quality.record(modality, "corrupt_file", sample_ids[p], path, error)
            unreadable[p] = True
            continue
        out[p] = np.ma.filled(cell.astype(np.float64), np.nan)[:, 0, 0]
    return out, unreadable
