"""Satellite tiles: GeoTIFF writing and reading, and patch tokens.

Tiles are multi-band GeoTIFFs of any integer or float dtype (GeoPlant's Sentinel-2 patches:
R, G, B, NIR, 64 x 64 px at 10 m, int16 with nodata -1 in CRS IGNF:ETRS89LAEA as released) or
RGB JPEG/PNG images (TaxaBench-8k's Sentinel-2 cloudless tiles, which TaxaBind's loader
names ``<id>_<lat>_<lon>.jpeg``). `TileStore` finds them by sample id in a folder or a zip archive:
any file named ``<id>.<ext>`` or ``<id>_<lat>_<lon>.<ext>`` with ext tif, tiff, jpg, jpeg or png,
at any depth (GeoPlant ships its TIFFs zipped in the nested scheme
``<last 2 digits of id>/<previous 2>/<id>.tiff``). A JPEG has 3 bands (R, G, B), so a reader of
such tiles asks for ``n_bands=3`` (TaxaBench: ``satellite_bands: 3``); a band count other than
the one asked for is ``wrong_shape``, never padded, because a patch token holds all its bands;
values that are not numbers are ``wrong_dtype``. GeoPlant's JPEG release (an RGB JPEG and a
NIR JPEG per survey) is read as 4 bands by `read_tile_pair`.
`read_tile` never raises on a bad file: it records the problem in the `QualityLog` and returns
None, so the tile's tokens end up absent.

Patch tokens (`patch_tokens`): a (C, H, W) tile cut into a grid of ``patch x patch`` squares,
row-major, named ``r<row>c<col>`` (``r0c0`` top-left, i.e. north-west). With 64 px tiles and
16 px patches that is a 4 x 4 grid of 16 tokens of 4 * 16 * 16 = 1024 values (band-major:
all R pixels of the patch, then G, B, NIR), as read: 8-bit tiles as fractions of their 8-bit
range, others as stored; a patch with a nodata pixel is absent. The normaliser then centres
and scales every token value with training-split statistics, as for every modality, so the
unit a release stores does not matter. With ``per_band=True``
each (band, patch) is its own token named ``<band>/r<row>c<col>`` (D = patch * patch), so that
band contributions can be measured. `centre_patch_names` gives the tokens of the tile centre:
the 2 x 2 central patches for an even grid (``r1c1 r1c2 r2c1 r2c2`` for 4 x 4), the middle one
for an odd grid.
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from PIL import Image
from rasterio.errors import RasterioError
from rasterio.io import MemoryFile

from miam.inputs.quality import QualityLog, fill_values
from miam.inputs.tokenize.image import IMAGE_DECODE_ERRORS
from miam.inputs.tokenize.store import MemberStore

TILE_BANDS = ("R", "G", "B", "NIR")
# <id>.tiff (GeoPlant, synthetic) or <id>_<lat>_<lon>.jpeg (TaxaBind's satellite loader).
TILE_NAME = re.compile(r"(?:^|/)(\d+)(?:_[^/_]+_[^/_]+)?\.(?:tiff?|jpe?g|png)$", re.IGNORECASE)
# Leading bytes of the formats decoded with Pillow instead of GDAL (which would warn that a
# JPEG has no georeference).
IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")
METRES_PER_DEGREE_LAT = 110_574.0
METRES_PER_DEGREE_LON_EQUATOR = 111_320.0


def nested_tile_path(sample_id: int | str, suffix: str = ".tiff") -> str:
    """GeoPlant's nested path: ``<last 2 digits>/<previous 2 digits>/<id>.tiff``.

    >>> nested_tile_path(3018575)
    '75/85/3018575.tiff'
    """
    digits = str(int(sample_id)).zfill(4)
    return f"{digits[-2:]}/{digits[-4:-2]}/{int(sample_id)}{suffix}"


def band_names(n_bands: int) -> tuple[str, ...]:
    """R, G, B, NIR for up to 4 bands; b1..bN for more (a 5-band tile has no documented order)."""
    return (
        TILE_BANDS[:n_bands]
        if n_bands <= len(TILE_BANDS)
        else tuple(f"b{i}" for i in range(1, n_bands + 1))
    )


def tile_bytes(array: np.ndarray, lon: float, lat: float, pixel_m: float = 10.0) -> bytes:
    """A (C, H, W) uint8 array as GeoTIFF bytes, centred on (lon, lat).

    CRS EPSG:4326; the pixel size is `pixel_m` metres converted to degrees at `lat`, so the
    tile covers the same ground as a 10 m Sentinel-2 patch. Deflate-compressed, no timestamps:
    the same array gives the same bytes.
    """
    count, height, width = array.shape
    dx = pixel_m / (METRES_PER_DEGREE_LON_EQUATOR * math.cos(math.radians(lat)))
    dy = pixel_m / METRES_PER_DEGREE_LAT
    with MemoryFile() as memory:
        with memory.open(
            driver="GTiff",
            width=width,
            height=height,
            count=count,
            dtype=array.dtype,
            crs="EPSG:4326",
            transform=Affine(dx, 0.0, lon - dx * width / 2, 0.0, -dy, lat + dy * height / 2),
            compress="deflate",
        ) as dst:
            dst.write(array)
        return memory.read()


def write_tile(path: str | Path, array: np.ndarray, lon: float, lat: float, pixel_m: float = 10.0):
    """Write `tile_bytes(array, lon, lat, pixel_m)` to `path`, creating its folder."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(tile_bytes(array, lon, lat, pixel_m))


def read_tile(
    source: str | Path | bytes,
    quality: QualityLog,
    modality: str,
    sample_id,
    size: int = 64,
    n_bands: int = 4,
    label: str | None = None,
    nodata: tuple[float, ...] = (),
) -> np.ndarray | None:
    """The (n_bands, size, size) float32 centre window of a GeoTIFF or JPEG/PNG, or None
    (recorded).

    Any integer or float dtype is read; 8-bit tiles (JPEG, PNG, uint8 TIFF) as fractions of
    their 8-bit range, others as stored (GeoPlant: int16 reflectances). Pixels without data are
    NaN, so their patches are absent: the file's declared nodata, the `nodata` values the
    release uses (GeoPlant: -1), NaN and fill values (``nodata`` in the report). `source` is a
    path or the file's bytes (a zip member); `label` names it in the log. A larger tile is
    cropped to its centre window; a smaller one or another band count is ``wrong_shape``,
    values that are not numbers ``wrong_dtype``, a file that cannot be decoded ``corrupt_file``.
    """
    label = label or str(source)
    try:
        if _is_image(source):
            pixels, declared = _image_pixels(source, n_bands), ()
        else:
            pixels, declared = _geotiff_pixels(source)
    except (RasterioError, *IMAGE_DECODE_ERRORS) as error:
        quality.record(modality, "corrupt_file", sample_id, label, error)
        return None
    bands, height, width = pixels.shape
    if bands != n_bands or width < size or height < size:
        detail = f"shape {(bands, height, width)}; expected {n_bands} bands of >= {size} px"
        quality.record(modality, "wrong_shape", sample_id, label, detail)
        return None
    if pixels.dtype.kind not in "uif":
        quality.record(modality, "wrong_dtype", sample_id, label, f"dtype {pixels.dtype}")
        return None
    top, left = (height - size) // 2, (width - size) // 2
    window = pixels[:, top : top + size, left : left + size]
    values = window.astype(np.float32)
    no_data = np.isin(window, (*declared, *nodata)) | np.isnan(values) | fill_values(values)
    if pixels.dtype == np.uint8:
        values = values * np.float32(1 / 255)
    if no_data.any():
        detail = f"nodata in {int(no_data.sum())} of {no_data.size} values: their patches absent"
        quality.record(modality, "nodata", sample_id, label, detail)
    return np.ascontiguousarray(np.where(no_data, np.float32(np.nan), values))


def _is_image(source: str | Path | bytes) -> bool:
    """True for JPEG or PNG content (read by its first bytes, whatever the file is called)."""
    if isinstance(source, bytes):
        head = source[:8]
    else:
        with open(source, "rb") as handle:
            head = handle.read(8)
    return head.startswith(IMAGE_SIGNATURES)


def _image_pixels(source, n_bands: int) -> np.ndarray:
    """(C, H, W) pixels of a JPEG/PNG (Pillow decodes); a one-band read of a colour image
    (the NIR JPEG of GeoPlant's JPEG release) takes its luminance."""
    with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
        image.load()  # decode now, so that a truncated file fails here
        if n_bands == 1 and image.mode in ("RGB", "RGBA"):
            image = image.convert("L")
        pixels = np.asarray(image)
    pixels = pixels[..., None] if pixels.ndim == 2 else pixels  # (H, W, C)
    return pixels.transpose(2, 0, 1)


def _geotiff_pixels(source) -> tuple[np.ndarray, tuple]:
    """The whole tile and the nodata values its bands declare: reading only the centre window
    would not notice a file cut short past it (GDAL reads the blocks it is asked for). Only
    the declared nodata counts, not GDAL's mask, which takes the 4th band of an 8-bit tile for
    an alpha channel."""
    with _open(source) as dataset:
        declared = tuple({v for v in dataset.nodatavals if v is not None and not np.isnan(v)})
        return dataset.read(), declared


class _open:
    """Open a path or in-memory bytes with rasterio, closing both afterwards."""

    def __init__(self, source: str | Path | bytes):
        self.source = source
        self.memory: MemoryFile | None = None

    def __enter__(self):
        if isinstance(self.source, bytes):
            # A fixed name: GDAL quotes it in errors, which the report must repeat alike.
            self.memory = MemoryFile(self.source, filename="tile.tif")
            self.dataset = self.memory.open()
        else:
            self.dataset = rasterio.open(self.source)
        return self.dataset

    def __exit__(self, *exc):
        self.dataset.close()
        if self.memory is not None:
            self.memory.close()


class TileStore(MemberStore):
    """Tiles by sample id, from a folder (searched recursively) or a zip archive; `nodata`:
    the pixel values the release uses for "no data" besides what a file declares."""

    def __init__(self, location: str | Path, nodata: tuple[float, ...] = ()):
        super().__init__(location, TILE_NAME, nested_tile_path)
        self.nodata = nodata

    def read(self, sample_id, quality: QualityLog, modality: str, **kwargs) -> np.ndarray | None:
        """The tile of `sample_id` (see `read_tile`), or None with the problem recorded."""
        found = self.fetch(sample_id, quality, modality)
        if found is None:
            return None
        data, label = found
        return read_tile(
            data, quality, modality, sample_id, label=label, nodata=self.nodata, **kwargs
        )


class TilePairStore:
    """GeoPlant's JPEG release: each survey's RGB JPEG and NIR JPEG, read as one R, G, B, NIR
    tile (the NIR JPEG's luminance is the NIR band); either missing or bad leaves it absent."""

    def __init__(self, rgb: str | Path, nir: str | Path):
        self.rgb, self.nir = TileStore(rgb), TileStore(nir)

    def read(self, sample_id, quality: QualityLog, modality: str, size: int = 64):
        rgb = self.rgb.read(sample_id, quality, modality, size=size, n_bands=3)
        nir = self.nir.read(sample_id, quality, modality, size=size, n_bands=1)
        return None if rgb is None or nir is None else np.concatenate([rgb, nir])

    def close(self) -> None:
        self.rgb.close()
        self.nir.close()


def patch_names(grid: int, bands: tuple[str, ...] | None = None) -> list[str]:
    """Token names of a `grid` x `grid` patch layout, row-major; with `bands`, band-major
    (``NIR/r1c2``)."""
    cells = [f"r{r}c{c}" for r in range(grid) for c in range(grid)]
    return cells if bands is None else [f"{band}/{cell}" for band in bands for cell in cells]


def centre_patch_names(grid: int, bands: tuple[str, ...] | None = None) -> list[str]:
    """Names of the centre patches: the middle one (odd grid) or the central 2 x 2 (even)."""
    middle = [grid // 2] if grid % 2 else [grid // 2 - 1, grid // 2]
    cells = [f"r{r}c{c}" for r in middle for c in middle]
    return cells if bands is None else [f"{band}/{cell}" for band in bands for cell in cells]


def patch_tokens(
    tiles: np.ndarray,
    present: np.ndarray,
    patch: int = 16,
    per_band: bool = False,
    bands: tuple[str, ...] = TILE_BANDS,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Cut (N, C, H, W) tiles into patch tokens.

    Returns values (N, T, D) float32 (the tiles' values as read, 0 where absent), present
    (N, T): the tile was read (`present`) and the token has no NaN (a nodata pixel), and the
    token names (see the module docstring). Scaling is the normaliser's business (per token
    and value, from the training split), as for every other modality.
    """
    n, channels, height, width = tiles.shape
    assert height == width and height % patch == 0, (
        f"tiles of {height}x{width} px do not cut into {patch} px patches"
    )
    assert len(bands) == channels, f"{len(bands)} band names for {channels} bands"
    grid = height // patch
    # (N, C, gr, p, gc, p) -> (N, gr, gc, C, p, p)
    blocks = tiles.reshape(n, channels, grid, patch, grid, patch).transpose(0, 2, 4, 1, 3, 5)
    if per_band:
        # -> (N, C, gr, gc, p * p): one token per band and patch, band-major.
        values = blocks.transpose(0, 3, 1, 2, 4, 5).reshape(n, channels * grid * grid, -1)
        names = patch_names(grid, bands)
    else:
        values = blocks.reshape(n, grid * grid, channels * patch * patch)
        names = patch_names(grid)
    values = values.astype(np.float32)
    token_present = np.asarray(present, bool)[:, None] & np.isfinite(values).all(axis=2)
    return np.where(token_present[..., None], values, np.float32(0)), token_present, names
