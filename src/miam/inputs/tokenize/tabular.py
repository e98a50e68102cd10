"""Tabular variables: CSV tables keyed by sample id, one scalar token per variable.

`read_table` stops the run with a message naming the file when a table cannot be read at all
(a missing or unparsable file is not a per-sample problem). Inside a readable table, an empty
cell is ``missing_value`` and a non-finite number ``out_of_range``: the token is absent and the
run goes on. A sample with no row in a table has all that table's tokens absent
(``missing_value``, one record per table).
"""

from __future__ import annotations

import lzma
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from miam.inputs.quality import QualityLog

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


def read_table(path: str | Path, required: tuple[str, ...] = ()) -> pd.DataFrame:
    """A CSV (optionally .gz/.bz2/.xz/.zip-compressed) as a DataFrame; raises ValueError naming
    the file if it cannot be used."""
    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError as error:
        raise ValueError(f"required table {path} does not exist") from error
    except TABLE_READ_ERRORS as error:
        raise ValueError(f"cannot read table {path}: {type(error).__name__}: {error}") from error
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"table {path} lacks columns {missing}; it has {list(frame.columns)}")
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
        infinite = np.isinf(values)
        for i, j in zip(*np.nonzero(empty), strict=True):
            quality.record(modality, "missing_value", sample_ids[i], path, columns[j])
        for i, j in zip(*np.nonzero(infinite), strict=True):
            quality.record(modality, "out_of_range", sample_ids[i], path, columns[j])
        blocks.append(values)
        present_blocks.append(np.isfinite(values))
        names.extend(token_name(c) for c in columns)
    values = np.concatenate(blocks, axis=1)
    present = np.concatenate(present_blocks, axis=1)
    assert len(set(names)) == len(names), f"duplicate tabular token names: {names}"
    return np.where(present, values, 0.0).astype(np.float32)[..., None], present, names
