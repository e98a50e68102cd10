"""The sample table of a dataset, in whatever format the user has, and its coordinates in lon/lat.

Formats, by the file's suffix: CSV (``.csv``, ``.tsv``, ``.txt``, each optionally compressed:
``.gz``, ``.bz2``, ``.xz``, ``.zst``, ``.zip``), Parquet and GeoParquet (``.parquet``, ``.pq``),
and the vector formats GDAL reads through pyogrio: GeoPackage (``.gpkg``), GeoJSON
(``.geojson``, ``.json``), Shapefile (``.shp``, or a ``.zip`` holding one), FlatGeobuf
(``.fgb``). A table that cannot be read, whatever the reason (an empty file, a truncated gzip
stream, a damaged Parquet footer, a GeoPackage that is not a database), stops the run with an
InputError naming the file: without the sample table there is nothing to tokenize. A plain
CSV without a final newline is read, and flagged (`SampleTable.unterminated`) for a warning.

Coordinates come from the geometry (points; the representative point of any other shape) or
from two named columns, in the table's CRS (the geometry's own, or the one the options give),
and are reprojected to lon/lat (EPSG:4326) with pyproj.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from miam.core.errors import InputError
from miam.inputs.tokenize.generic_spec import LON_LAT_NAMES
from miam.inputs.tokenize.tabular import check_complete

log = logging.getLogger(__name__)

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
COMPRESSIONS = (".gz", ".bz2", ".xz", ".zst", ".zip")
PARQUET_SUFFIXES = (".parquet", ".pq", ".geoparquet")
VECTOR_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp", ".fgb", ".zip")
WGS84 = "EPSG:4326"


@dataclass
class SampleTable:
    path: Path
    frame: pd.DataFrame  # attribute columns only
    geometry_xy: tuple[np.ndarray, np.ndarray] | None  # x, y of each row's geometry
    crs: str | None  # the geometry's CRS
    unterminated: bool = False  # a plain CSV without a final newline (`check_complete`)


def table_format(path: Path) -> str:
    """ "csv", "parquet" or "vector" from the suffixes; InputError naming the file otherwise."""
    suffixes = [s.lower() for s in path.suffixes]
    last = suffixes[-1] if suffixes else ""
    if last in CSV_SUFFIXES or (
        last in COMPRESSIONS and len(suffixes) > 1 and suffixes[-2] in CSV_SUFFIXES
    ):
        return "csv"
    if last in PARQUET_SUFFIXES:
        return "parquet"
    if last in VECTOR_SUFFIXES:
        return "vector"
    raise InputError(
        f"sample table {path}: unknown format {''.join(suffixes) or '(no suffix)'}; known: "
        "CSV (.csv, .tsv, .txt, optionally .gz/.bz2/.xz/.zst/.zip), Parquet (.parquet, .pq), "
        "GeoPackage (.gpkg), GeoJSON (.geojson, .json), Shapefile (.shp), FlatGeobuf (.fgb)"
    )


def _read_csv(path: Path, **options) -> pd.DataFrame:
    """A delimited text table: tab-separated for .tsv, the delimiter sniffed for .txt (slower,
    Python's parser), else commas."""
    suffixes = [s.lower() for s in path.suffixes]
    sep = "\t" if ".tsv" in suffixes else None if ".txt" in suffixes else ","
    return pd.read_csv(path, sep=sep, engine="python" if sep is None else "c", **options)


def read_sample_table(path: str | Path, layer: str | None = None) -> SampleTable:
    """The table at `path`; InputError naming the file when it is missing or unreadable."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"the sample table {path} does not exist")
    kind = table_format(path)
    unterminated = check_complete(path)
    try:
        if kind == "csv":
            table = SampleTable(path, _read_csv(path), None, None, unterminated)
        elif kind == "parquet":
            table = _read_parquet(path)
        else:
            table = _read_vector(path, layer)
    except ValueError as error:
        if str(path) in str(error):
            raise
        raise InputError(f"cannot read the sample table {path}: {error}") from error
    # Every reader library has its own errors for a damaged file (EOFError and BadGzipFile
    # from a cut gzip stream, ArrowInvalid, pyogrio's DataSourceError, zlib and lzma errors...):
    # whichever it is, the message names the file.
    except Exception as error:
        raise InputError(
            f"cannot read the sample table {path}: {type(error).__name__}: {error}"
        ) from error
    if table.frame.empty:
        raise InputError(f"the sample table {path} has no rows")
    return table


def read_header(path: str | Path, layer: str | None = None) -> tuple[list[str], bool]:
    """(column names, whether the table has a geometry) of the table at `path`, from its header
    alone (the workflow checks the options against it when it parses); InputError naming the
    file when it cannot be read."""
    path = Path(path)
    kind = table_format(path)
    check_complete(path)
    try:
        if kind == "csv":
            return [str(c) for c in _read_csv(path, nrows=0).columns], False
        if kind == "parquet":
            import pyarrow.parquet

            schema = pyarrow.parquet.read_schema(path)
            geo = json.loads((schema.metadata or {}).get(b"geo", b"{}"))
            geometry = set(geo.get("columns", {}))
            return [n for n in schema.names if n not in geometry], bool(geometry)
        import pyogrio

        info = pyogrio.read_info(path, layer=layer)
        return [str(f) for f in info["fields"]], info["geometry_type"] is not None
    except Exception as error:
        raise InputError(
            f"cannot read the sample table {path}: {type(error).__name__}: {error}"
        ) from error


def _geometry_xy(geometry) -> tuple[np.ndarray, np.ndarray]:
    """x, y of each point (the representative point of other shapes); NaN where empty."""
    empty = geometry.isna() | geometry.is_empty
    points = geometry.where(geometry.geom_type == "Point", geometry.representative_point())
    x = np.where(empty, np.nan, points.x.where(~empty, np.nan).to_numpy(float))
    y = np.where(empty, np.nan, points.y.where(~empty, np.nan).to_numpy(float))
    return x, y


def _from_geodataframe(path: Path, frame) -> SampleTable:
    if frame.geometry is None or frame.geometry.isna().all():
        attributes = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
        return SampleTable(path, attributes, None, None)
    crs = frame.crs.to_string() if frame.crs is not None else None
    xy = _geometry_xy(frame.geometry)
    attributes = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    return SampleTable(path, attributes, xy, crs)


def _read_vector(path: Path, layer: str | None) -> SampleTable:
    import geopandas

    return _from_geodataframe(path, geopandas.read_file(path, layer=layer, engine="pyogrio"))


def _read_parquet(path: Path) -> SampleTable:
    import pyarrow.parquet

    metadata = pyarrow.parquet.read_schema(path).metadata or {}
    if b"geo" in metadata:  # GeoParquet
        import geopandas

        return _from_geodataframe(path, geopandas.read_parquet(path))
    return SampleTable(path, pd.read_parquet(path), None, None)


def _column(frame: pd.DataFrame, name: str) -> str | None:
    """The column called `name`, ignoring case."""
    for column in frame.columns:
        if str(column).lower() == name.lower():
            return column
    return None


def coordinates(
    table: SampleTable, setting, where: str = "coordinates"
) -> tuple[np.ndarray, np.ndarray, str] | None:
    """(lon, lat, how) of every row, or None when the table has no coordinates.

    `setting` is the reader's `coordinates` option: "auto", "none" or {x, y, crs}.
    """
    if setting == "none":
        return None
    frame = table.frame
    if isinstance(setting, dict) and setting["x"] is not None:
        missing = [setting[k] for k in ("x", "y") if setting[k] not in frame.columns]
        if missing:
            raise InputError(
                f"{where}: the sample table {table.path} has no column {missing}; "
                f"it has {list(frame.columns)}"
            )
        x = pd.to_numeric(frame[setting["x"]], errors="coerce").to_numpy(float)
        y = pd.to_numeric(frame[setting["y"]], errors="coerce").to_numpy(float)
        crs, how = setting["crs"], f"columns {setting['x']}, {setting['y']} ({setting['crs']})"
    elif table.geometry_xy is not None:
        x, y = table.geometry_xy
        crs = setting["crs"] if isinstance(setting, dict) and "crs" in setting else None
        crs = table.crs or crs
        if crs is None:
            raise InputError(
                f"{where}: the geometry of {table.path} has no CRS; give it as "
                "coordinates: {crs: EPSG:...}"
            )
        how = f"the geometry ({crs})"
    else:
        pair = next(
            (
                (_column(frame, lon), _column(frame, lat))
                for lon, lat in LON_LAT_NAMES
                if _column(frame, lon) and _column(frame, lat)
            ),
            None,
        )
        if pair is None:
            return None
        x = pd.to_numeric(frame[pair[0]], errors="coerce").to_numpy(float)
        y = pd.to_numeric(frame[pair[1]], errors="coerce").to_numpy(float)
        crs, how = WGS84, f"columns {pair[0]}, {pair[1]} (degrees)"
    lon, lat = to_lon_lat(x, y, crs, where)
    return lon, lat, how


def to_lon_lat(x: np.ndarray, y: np.ndarray, crs: str, where: str = "crs"):
    """x, y in `crs` -> lon, lat in degrees (NaN stays NaN)."""
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError

    try:
        source = CRS.from_user_input(crs)
    except CRSError as error:
        raise InputError(f"{where}: unknown CRS {crs!r}: {error}") from error
    if source.equals(CRS.from_epsg(4326)):
        return np.asarray(x, float), np.asarray(y, float)
    transformer = Transformer.from_crs(source, "EPSG:4326", always_xy=True)
    lon, lat = transformer.transform(np.asarray(x, float), np.asarray(y, float))
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    finite = np.isfinite(lon) & np.isfinite(lat)
    log.info("coordinates reprojected from %s to lon/lat (%d points)", crs, int(finite.sum()))
    return np.where(finite, lon, np.nan), np.where(finite, lat, np.nan)
