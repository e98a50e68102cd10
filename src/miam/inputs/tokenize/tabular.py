"""Tabular variables: CSV tables keyed by sample id, one scalar token per variable.

`read_table` stops the run with a message naming the file when a table cannot be read at all (a
missing, empty, unparsable or truncated file is not a per-sample problem). Inside a readable
table, an empty cell is ``missing_value`` and a fill value (+-inf, |x| > 1e10: GeoPlant's
tables use them for "no value") ``fill_value``: the token is absent and the run goes on. A
sample with no row in a table has all that table's tokens absent (``missing_value``, one record
per table).
"""

from __future__ import annotations

import logging
import lzma
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from miam.core.console import CONSOLE
from miam.core.errors import InputError
from miam.inputs.quality import QualityLog, fill_values

log = logging.getLogger(__name__)

# What pandas raises on a damaged CSV, compressed or not: a parse error, bad text, a gzip stream
# cut short (EOFError) or corrupt (BadGzipFile is an OSError; zlib.error), a damaged bz2 / xz
# (OSError, lzma.LZMAError) or zip (BadZipFile) member.
TABLE_READ_ERRORS = (
    pd.errors.ParserError,
    pd.errors.EmptyDataError,
    UnicodeDecodeError,
    EOFError,
    OSError,
    ValueError,
    zlib.error,
    lzma.LZMAError,
    zipfile.BadZipFile,
)


# Plain-text tables whose end `check_complete` reads.
PLAIN_TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
TAIL_BYTES = 1 << 16


def check_complete(path: str | Path) -> bool:
    """InputError naming a table that is empty (0 bytes, any format) or a plain CSV/TSV cut
    short: no final newline and a last line with fewer fields than the header (pandas would
    read it as a row with empty cells). True when a plain table has every field of its last
    line but no final newline: its last value may still be cut short (``160`` read as ``1``),
    which only the file's size and checksum can tell (`miam.inputs.local_source`), so the
    caller warns with the row count."""
    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"table {path}: the file is empty (0 bytes); copy it again")
    if path.suffix.lower() not in PLAIN_TEXT_SUFFIXES or not path.is_file():
        return False
    with open(path, "rb") as handle:
        header = handle.readline()
        handle.seek(max(0, path.stat().st_size - TAIL_BYTES))
        tail = handle.read()
    if not tail or tail.endswith((b"\n", b"\r")) or b"\n" not in tail:
        return False
    last = tail.rsplit(b"\n", 1)[1]
    separator = b"\t" if header.count(b"\t") > header.count(b",") else b","
    fields, expected = _field_count(last, separator), _field_count(header, separator)
    if fields < expected:
        raise InputError(
            f"table {path} is cut short: its last line has {fields} of {expected} fields and "
            "no final newline (an interrupted copy or download?); copy it again"
        )
    return True


def warn_unterminated(path: str | Path, rows: int) -> None:
    """Warn, on the console too, that a table has no final newline (`check_complete`)."""
    log.warning(
        f"table {path} has no final newline: {rows} rows read; its last value may be cut short "
        "(an interrupted copy?), compare the file with its source",
        extra={CONSOLE: True},
    )


def _field_count(line: bytes, separator: bytes) -> int:
    """Fields of one CSV line (separators inside double quotes do not count)."""
    outside = line.split(b'"')[::2]
    return sum(part.count(separator) for part in outside) + 1


def read_table(path: str | Path, required: tuple[str, ...] = ()) -> pd.DataFrame:
    """A CSV (optionally .gz/.bz2/.xz/.zip-compressed) as a DataFrame; raises InputError naming
    the file if it cannot be used (`check_complete`: empty, or a plain CSV cut short), and warns,
    on the console too, when it has no final newline."""
    path = Path(path)
    unterminated = check_complete(path)
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError as error:
        raise InputError(f"required table {path} does not exist") from error
    except TABLE_READ_ERRORS as error:
        raise InputError(f"cannot read table {path}: {type(error).__name__}: {error}") from error
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError(f"table {path} lacks columns {missing}; it has {list(frame.columns)}")
    if unterminated:
        warn_unterminated(path, len(frame))
    return frame


def tabular_tokens(
    tables: list[tuple[Path, pd.DataFrame]],
    sample_ids: np.ndarray,
    key: str,
    token_name: Callable[[str], str],
    quality: QualityLog,
    modality: str = "tabular",
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Join `tables` on `key` in the order of `sample_ids`; every other column is one token.

    Returns values (N, T, 1) float32, present (N, T) and the token names (`token_name` of each
    column, in table order then column order). The first row of a duplicated key is used.
    """
    blocks, present_blocks, names = [], [], []
    for path, frame in tables:
        frame = frame.drop_duplicates(key).set_index(key)
        columns = list(frame.columns)
        numeric = frame.apply(pd.to_numeric, errors="coerce")
        values = numeric.reindex(sample_ids).to_numpy(dtype=np.float64)
        has_row = np.isin(sample_ids, frame.index)
        for sample_id in sample_ids[~has_row]:
            quality.record(modality, "missing_value", sample_id, path, "no row")
        empty = np.isnan(values) & has_row[:, None]
        fills = fill_values(values)
        for i, j in zip(*np.nonzero(empty), strict=True):
            quality.record(modality, "missing_value", sample_ids[i], path, columns[j])
        for i, j in zip(*np.nonzero(fills), strict=True):
            detail = f"{columns[j]} = {values[i, j]:g}"
            quality.record(modality, "fill_value", sample_ids[i], path, detail)
        blocks.append(values)
        present_blocks.append(~empty & ~fills & has_row[:, None])
        names.extend(token_name(c) for c in columns)
    values = np.concatenate(blocks, axis=1)
    present = np.concatenate(present_blocks, axis=1)
    assert len(set(names)) == len(names), f"duplicate tabular token names: {names}"
    return np.where(present, values, 0.0).astype(np.float32)[..., None], present, names
