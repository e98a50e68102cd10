"""Per-sample files found by sample id, and decoding a tile of any band count, dtype and CRS.

`SampleFiles` indexes a folder (searched recursively) once: by default a file belongs to the
sample whose id is its name without the last suffix (``A12.tif`` -> ``A12``); a template such as
``"{id}_rgb.tif"`` or ``"{id}/calls/main.wav"`` names files another way (matched against the
path inside the folder). Ids are strings, whatever they look like.

`read_tile_array` decodes a GeoTIFF (any GDAL raster) or a PNG/JPEG into (C, H, W) float32 with
NaN where the file has no data (its nodata value, its mask, or NaN itself), and returns the
tile's CRS and bounds (fill values, +-inf or |x| > 1e10, are NaN too) so that the reader can
check that the tile covers the sample's point. The whole tile is read, never a window of it: a
file cut short fails here even where the cut lies outside the window the tokens use.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from PIL import Image
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from tqdm import tqdm

from miam.inputs.quality import QualityLog, fill_values
from miam.inputs.tokenize.image import IMAGE_DECODE_ERRORS
from miam.inputs.tokenize.satellite import IMAGE_SIGNATURES

log = logging.getLogger(__name__)

SUFFIXES = {
    "tile": (".tif", ".tiff", ".vrt", ".img", ".jp2", ".png", ".jpg", ".jpeg"),
    "image": (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp", ".gif"),
    "audio": (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".mp4", ".aac", ".opus", ".aif", ".aiff"),
}
NOT_ON_SERVER = "not on the server (HTTP 404 when downloaded)"
NO_FILE = "no file of this sample in the folder"
# What decoding a bad tile raises; the reader records `corrupt_file`.
TILE_DECODE_ERRORS = (RasterioError, *IMAGE_DECODE_ERRORS)


class SampleFiles:
    """Files under `folder` by sample id (see the module doc)."""

    def __init__(
        self,
        folder: str | Path,
        suffixes: tuple[str, ...],
        template: str | None = None,
        unserved: dict[str, Path] | None = None,
    ):
        self.folder = Path(folder)
        self.template = template
        # Sample id -> the file the download found missing on the server (HTTP 404).
        self.unserved = unserved or {}
        if not self.folder.is_dir():
            raise ValueError(f"the folder of per-sample files {self.folder} does not exist")
        pattern = None
        if template is not None:
            before, after = template.split("{id}", 1)
            pattern = re.compile(f"^(?:.*/)?{re.escape(before)}([^/]+?){re.escape(after)}$")
        self.files: dict[str, Path] = {}
        duplicates = 0
        for path in sorted(self.folder.rglob("*")):
            if not path.is_file() or path.name.startswith("."):
                continue
            relative = path.relative_to(self.folder).as_posix()
            if pattern is not None:
                found = pattern.match(relative)
                sample_id = found.group(1) if found else None
            elif path.suffix.lower() in suffixes:
                sample_id = path.stem
            else:
                sample_id = None
            if sample_id is None:
                continue
            if sample_id in self.files:
                duplicates += 1
                continue
            self.files[sample_id] = path
        if duplicates:
            log.warning(
                "%s: %d files name a sample that already has one; the first (sorted) is used",
                self.folder,
                duplicates,
            )
        log.info("%s: %d per-sample files", self.folder, len(self.files))

    def get(self, sample_id: str) -> Path | None:
        return self.files.get(str(sample_id))

    def expected(self, sample_id: str) -> str:
        """How a missing file would be named, for the report."""
        name = self.template.format(id=sample_id) if self.template else f"{sample_id}.*"
        return str(self.folder / name)

    def record_missing(self, sample_id: str, quality: QualityLog, modality: str) -> None:
        """``missing_file`` for `sample_id`, saying so when the server did not have it either."""
        if sample_id in self.unserved:
            path, detail = self.unserved[sample_id], NOT_ON_SERVER
        else:
            path, detail = self.expected(sample_id), NO_FILE
        quality.record(modality, "missing_file", sample_id, path, detail)


def read_each_file(name, sample_ids, files, quality, progress, values, tokens, decode_errors):
    """values[i] = tokens(path, sample_id) for each sample's file (the per-sample loop of every
    reader of per-sample files); a missing or undecodable file is recorded in the quality
    report and its sample left absent. Returns (N,) present."""
    present = np.zeros(len(sample_ids), bool)
    for i, sample_id in enumerate(tqdm(sample_ids, desc=name, disable=not progress)):
        path = files.get(sample_id)
        if path is None:
            files.record_missing(sample_id, quality, name)
            continue
        try:
            values[i] = tokens(path, sample_id)
        except decode_errors as error:
            quality.record(name, "corrupt_file", sample_id, path, error)
            continue
        present[i] = True
    return present


@dataclass
class TileArray:
    values: np.ndarray  # (C, H, W) float32, NaN where the file has no data
    crs: object | None  # rasterio CRS, None for an image without georeference
    bounds: tuple[float, float, float, float] | None  # left, bottom, right, top in `crs`


def read_tile_array(path: str | Path) -> TileArray:
    """The whole tile (see the module doc); raises one of TILE_DECODE_ERRORS if undecodable."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head.startswith(IMAGE_SIGNATURES):
        with Image.open(path) as image:
            image.load()  # decode now, so that a truncated file fails here
            pixels = np.asarray(image)
        pixels = pixels[..., None] if pixels.ndim == 2 else pixels
        return TileArray(pixels.transpose(2, 0, 1).astype(np.float32), None, None)
    with warnings.catch_warnings():
        # A TIFF without georeference is a tile like any other.
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as dataset:
            data = dataset.read(masked=True)  # every block: a cut file fails here
            crs = dataset.crs
            bounds = tuple(dataset.bounds) if crs is not None else None
    values = np.ma.filled(data.astype(np.float32), np.nan)
    values[fill_values(values)] = np.nan
    return TileArray(values, crs, bounds)


def tile_covers(tile: TileArray, lon: float, lat: float) -> bool:
    """True when the tile has no CRS, or (lon, lat) reprojected to its CRS lies inside it."""
    if tile.crs is None or tile.bounds is None or not np.isfinite([lon, lat]).all():
        return True
    from rasterio.warp import transform

    xs, ys = transform("EPSG:4326", tile.crs, [lon], [lat])
    left, bottom, right, top = tile.bounds
    return bool(left <= xs[0] <= right and bottom <= ys[0] <= top)
