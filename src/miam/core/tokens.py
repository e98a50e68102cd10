"""Tokenized data: the one format every stage after tokenization reads.

A dataset is a folder::

    meta.json                 format, task, class names, modalities (name, kind, token names,
                              storage dtype and its largest rounding error; the levels of
                              one-hot categorical tokens) in model order
    <modality>.values.npy     values (N, T_m, D_m), float16 or float32 (see "Storage")
    <modality>.present.npy    present (N, T_m) bool
    samples.csv               one row per sample: sample_id, lon, lat (the split and the maps)
    targets.npy               multilabel: (N, C) uint8 presence; multiclass: (N,) int64 class

`present` is False where the data has no value (NaN year, missing file, corrupt tile); such a
token is never shown to a model, whatever the masking says. Values of absent tokens are 0.
Only numpy and pandas are needed to read it, so it loads on a bare GPU node.

Loading costs nothing: the arrays are uncompressed `.npy` files opened as memory maps
(copy-on-write: writing to a loaded array changes the job's view, never the file), so a job
reads only the rows and modalities it touches. `read_rows` copies rows out of a map and hands
the mapped pages back, so a job's memory holds its copy, not the file. Folders of the first
format (one compressed `<modality>.npz` each) still load, whole.

Storage: `save(storage="auto")` (what the workflow's gather step writes) stores a vector
modality in float16 when rounding moves no value by more than `FLOAT16_TOLERANCE` (0.005) of
its feature's standard deviation over the saved samples, and in float32 otherwise; scalar
(tabular) modalities stay float32: they are small, and the periodic embedding multiplies an
input error by its learned frequencies. meta.json records each dtype and the largest error
measured (`max_error_std`). Float16 keeps 11 significant bits: rounding moves a value v by at
most 2^-11 |v| (2^-25 below 2^-14), e.g. at most 2.4e-4 for [0, 1] reflectances and pixels,
finer than their own 8-bit quantisation (2e-3), about 0.002 standard deviations in the
synthetic benchmarks; yearly climate vectors and audio spectrograms (large offsets next to
their spread) stay float32. `storage="float32"`, the default and what shards are written in,
is exact.
"""

from __future__ import annotations

import json
import mmap
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

TASKS = ("multilabel", "multiclass")
# "scalar": one number per token (tabular variable, D=1), embedded per variable as MaskSDM does;
# "vector": a feature vector per token (patch, year, audio patch), embedded by a linear projection.
KINDS = ("scalar", "vector")
FORMAT = 2
STORAGES = ("float32", "float16", "auto")
# Largest float16 rounding error allowed, in standard deviations of the value's feature (the
# normaliser divides by that spread, so it is the error the model sees).
FLOAT16_TOLERANCE = 0.005
FLOAT16_MAX = float(np.finfo(np.float16).max)
# Bytes of values read (or written) at a time when streaming rows through memory.
CHUNK_BYTES = 64 << 20
# madvise(MADV_PAGEOUT), Linux >= 5.4: hand mapped pages back to the kernel; pages the job wrote
# to (copy-on-write) are kept, unlike MADV_DONTNEED. Python < 3.12 lacks the name.
MADV_PAGEOUT = getattr(mmap, "MADV_PAGEOUT", 21 if sys.platform.startswith("linux") else None)


def shard_rows(n_samples: int, shard: int, n_shards: int) -> slice:
    """The samples shard `shard` of `n_shards` holds: a contiguous block in sample order.

    Blocks differ in size by at most one, and shard 0, 1, ... in order cover 0..n_samples, so
    `TokenSet.concat` of the shards' token sets is the token set of one unsharded run.
    """
    assert 0 <= shard < n_shards, f"shard {shard} of {n_shards}"
    return slice(shard * n_samples // n_shards, (shard + 1) * n_samples // n_shards)


def release_pages(array: np.ndarray) -> None:
    """Give the pages of a memory-mapped `array` that this process holds back to the kernel.

    Only resident memory drops: the data stays in the file (and what the job wrote, in its
    private copy). Nothing happens for an in-memory array or where the kernel cannot do it.
    """
    mapping = getattr(array, "_mmap", None)
    if mapping is None or MADV_PAGEOUT is None:
        return
    try:
        mapping.madvise(MADV_PAGEOUT)
    except (OSError, ValueError):
        pass


def row_blocks(n_rows: int, row_bytes: int, chunk_bytes: int = CHUNK_BYTES) -> Iterator[slice]:
    """Consecutive slices of about `chunk_bytes` covering rows 0..n_rows."""
    step = max(1, chunk_bytes // max(1, row_bytes))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def read_rows(
    array: np.ndarray, rows: np.ndarray | None = None, dtype=None, chunk_bytes: int = CHUNK_BYTES
) -> np.ndarray:
    """`array[rows]` (all rows when None) as an in-memory array of `dtype`, read in blocks.

    From a memory map, each block's pages are handed back once copied, so the job's peak memory
    is about the result, not the result plus the file.
    """
    n_rows = len(array) if rows is None else len(rows)
    out = np.empty((n_rows, *array.shape[1:]), dtype=dtype or array.dtype)
    row_bytes = int(np.prod(array.shape[1:], dtype=np.int64)) * array.dtype.itemsize
    for block in row_blocks(n_rows, row_bytes, chunk_bytes):
        out[block] = array[block] if rows is None else array[np.asarray(rows[block])]
        release_pages(array)
    return out


@dataclass
class Modality:
    name: str
    kind: str
    values: np.ndarray  # (N, T, D) float32 (float16 or float32 when read from a token folder)
    present: np.ndarray  # (N, T) bool
    token_names: list[str]
    # True for arrays read from a token folder, already stored clean (absent values 0): they are
    # kept as they are (memory maps), not copied into float32.
    stored: bool = field(default=False, repr=False, compare=False)
    # One-hot categorical tokens: each token's levels, in the order of its block of positions
    # (token t's block follows those of the tokens before it). New sites are read with them,
    # so a level has the position the model learned it at. None for every other modality.
    levels: list[list[str]] | None = None

    def __post_init__(self):
        assert self.kind in KINDS, f"modality {self.name}: kind {self.kind!r} not in {KINDS}"
        assert self.values.ndim == 3, f"modality {self.name}: values must be (N, T, D)"
        assert self.present.shape == self.values.shape[:2], (
            f"modality {self.name}: present {self.present.shape} != values {self.values.shape[:2]}"
        )
        assert len(self.token_names) == self.values.shape[1], (
            f"modality {self.name}: {len(self.token_names)} names for {self.values.shape[1]} tokens"
        )
        assert self.kind != "scalar" or self.values.shape[2] == 1, (
            f"modality {self.name}: scalar tokens have D=1"
        )
        assert self.levels is None or (
            len(self.levels) == self.values.shape[1]
            and sum(map(len, self.levels)) == self.values.shape[2]
        ), f"modality {self.name}: levels do not fill the tokens' one-hot positions"
        if self.stored:
            assert self.values.dtype in (np.float16, np.float32) and self.present.dtype == bool
            return
        self.values = np.where(self.present[..., None], self.values, 0).astype(np.float32)
        self.present = self.present.astype(bool)

    @property
    def n_tokens(self) -> int:
        return self.values.shape[1]

    @property
    def token_dim(self) -> int:
        return self.values.shape[2]


def storage_error(parts: list[Modality]) -> float:
    """Largest float16 rounding error of the values of `parts` (one modality, e.g. its shards),
    in standard deviations of each value's (token, feature) over present values (1 where a
    feature is constant, as `miam.core.data.Normalizer` does); inf where a value overflows float16.

    Absent values are 0 and round exactly, so plain sums over all rows are sums over present
    ones. Read in blocks: memory stays bounded whatever the number of samples.
    """
    shape = parts[0].values.shape[1:]
    count = np.zeros(shape[0])
    total, squares, error = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for part in parts:
        row_bytes = int(np.prod(shape)) * part.values.dtype.itemsize
        for block in row_blocks(len(part.values), row_bytes, CHUNK_BYTES // 4):
            values = np.asarray(part.values[block], dtype=np.float64)
            count += part.present[block].sum(axis=0)
            total += values.sum(axis=0)
            squares += np.square(values).sum(axis=0)
            with np.errstate(over="ignore", invalid="ignore"):
                rounded = values.astype(np.float16).astype(np.float64)
                error = np.maximum(error, np.abs(rounded - values).max(axis=0, initial=0.0))
            release_pages(part.values)
    count = np.maximum(count, 1.0)[:, None]
    variance = np.maximum(squares / count - np.square(total / count), 0.0)
    std = np.where(variance > 1e-12, np.sqrt(variance), 1.0)
    error = np.where(np.isnan(error), np.inf, error)
    return float((error / std).max(initial=0.0))


def _write_npy(path: Path, shape: tuple, dtype, blocks: Iterator[np.ndarray]) -> None:
    """Write an `.npy` of `shape` and `dtype` from consecutive row blocks, atomically (a job
    that maps the old file keeps reading it)."""
    dtype = np.dtype(dtype)
    tmp = path.with_name(path.name + ".tmp")
    rows = 0
    with open(tmp, "wb") as file:
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False}
        np.lib.format.write_array_header_2_0(file, {**header, "shape": tuple(shape)})
        for block in blocks:
            np.ascontiguousarray(block, dtype=dtype).tofile(file)
            rows += len(block)
    assert rows == shape[0], f"{path.name}: wrote {rows} rows of {shape[0]}"
    os.replace(tmp, path)


def _blocks(arrays: list[np.ndarray]) -> Iterator[np.ndarray]:
    """The rows of `arrays`, one after the other, in blocks of about `CHUNK_BYTES`."""
    for array in arrays:
        row_bytes = int(np.prod(array.shape[1:], dtype=np.int64)) * array.dtype.itemsize
        for block in row_blocks(len(array), row_bytes):
            yield np.asarray(array[block])
            release_pages(array)


@dataclass
class TokenSet:
    task: str
    modalities: list[Modality]
    targets: np.ndarray
    samples: pd.DataFrame  # sample_id, lon, lat
    class_names: list[str] = field(default_factory=list)

    def __post_init__(self):
        assert self.task in TASKS, f"task {self.task!r} not in {TASKS}"
        n = len(self.samples)
        for m in self.modalities:
            assert len(m.values) == n, f"modality {m.name}: {len(m.values)} samples, expected {n}"
        assert len(self.targets) == n, f"targets: {len(self.targets)} rows, expected {n}"

    @property
    def n_samples(self) -> int:
        return len(self.samples)

    @property
    def modality_names(self) -> list[str]:
        return [m.name for m in self.modalities]

    @property
    def tokens_per_modality(self) -> list[int]:
        return [m.n_tokens for m in self.modalities]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def modality(self, name: str) -> Modality:
        for m in self.modalities:
            if m.name == name:
                return m
        raise KeyError(f"no modality {name!r}; modalities are {self.modality_names}")

    @staticmethod
    def check_parts(parts: list[TokenSet]) -> None:
        """Every part must have the same task, classes and modalities (names, kinds, tokens)."""
        assert parts, "nothing to concatenate"
        first = parts[0]
        layout = [(m.name, m.kind, list(m.token_names), m.levels) for m in first.modalities]
        for i, part in enumerate(parts[1:], start=1):
            assert part.task == first.task, f"part {i}: task {part.task!r} != {first.task!r}"
            assert list(part.class_names) == list(first.class_names), f"part {i}: other classes"
            part_layout = [(m.name, m.kind, list(m.token_names), m.levels) for m in part.modalities]
            assert part_layout == layout, f"part {i}: other modalities or token names"

    @classmethod
    def concat(cls, parts: list[TokenSet]) -> TokenSet:
        """The samples of `parts`, one after the other (e.g. the shards of one tokenization),
        in memory; `save_concatenated` writes the same to a folder without holding it."""
        cls.check_parts(parts)
        first = parts[0]
        parts = _non_empty(parts)
        return cls(
            task=first.task,
            modalities=[
                Modality(
                    m.name,
                    m.kind,
                    np.concatenate([part.modalities[j].values for part in parts]),
                    np.concatenate([part.modalities[j].present for part in parts]),
                    m.token_names,
                    levels=m.levels,
                )
                for j, m in enumerate(first.modalities)
            ],
            targets=np.concatenate([part.targets for part in parts]),
            samples=pd.concat([part.samples for part in parts], ignore_index=True),
            class_names=list(first.class_names),
        )

    def take(self, index: np.ndarray) -> TokenSet:
        """The samples at `index`, in that order."""
        return TokenSet(
            task=self.task,
            modalities=[
                Modality(
                    m.name,
                    m.kind,
                    read_rows(m.values, index),
                    m.present[index],
                    m.token_names,
                    levels=m.levels,
                )
                for m in self.modalities
            ],
            targets=self.targets[index],
            samples=self.samples.iloc[index].reset_index(drop=True),
            class_names=self.class_names,
        )

    def save(self, folder: str | Path, storage: str = "float32") -> dict:
        """Write the folder; returns meta.json's content. storage: "float32" (exact), "float16",
        or "auto" (float16 per modality where its rounding error is within tolerance)."""
        return self.save_concatenated([self], folder, storage)

    @classmethod
    def save_concatenated(
        cls, parts: list[TokenSet], folder: str | Path, storage: str = "float32"
    ) -> dict:
        """Write the samples of `parts`, one after the other, as one token folder, streaming:
        memory holds a block of rows at a time, not the concatenation (the gather step's way).
        Returns meta.json's content."""
        assert storage in STORAGES, f"storage {storage!r} not in {STORAGES}"
        cls.check_parts(parts)
        first = parts[0]
        parts = _non_empty(parts)
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "meta.json").unlink(missing_ok=True)  # incomplete until it is written again
        n = sum(part.n_samples for part in parts)
        modalities = []
        for j, m in enumerate(first.modalities):
            pieces = [part.modalities[j] for part in parts]
            error = storage_error(pieces) if storage != "float32" else None
            small = m.kind == "vector" and error is not None and error <= FLOAT16_TOLERANCE
            if storage == "float16" or (storage == "auto" and small):
                dtype = "float16"
            else:
                dtype = "float32"
            shape = (n, m.n_tokens, m.token_dim)
            _write_npy(
                folder / f"{m.name}.values.npy",
                shape,
                dtype,
                _blocks([piece.values for piece in pieces]),
            )
            _write_npy(
                folder / f"{m.name}.present.npy",
                shape[:2],
                bool,
                _blocks([piece.present for piece in pieces]),
            )
            (folder / f"{m.name}.npz").unlink(missing_ok=True)  # the first format's file
            modalities.append(
                {
                    "name": m.name,
                    "kind": m.kind,
                    "token_names": list(m.token_names),
                    "dtype": dtype,
                    "max_error_std": 0.0 if dtype == "float32" else error,
                    **({"levels": m.levels} if m.levels is not None else {}),
                }
            )
        targets = [part.targets for part in parts]
        _write_npy(
            folder / "targets.npy",
            (n, *first.targets.shape[1:]),
            first.targets.dtype,
            _blocks(targets),
        )
        samples = pd.concat([part.samples for part in parts], ignore_index=True)
        samples.to_csv(folder / "samples.csv", index=False)
        meta = {
            "format": FORMAT,
            "task": first.task,
            "n_samples": n,
            "class_names": list(map(str, first.class_names)),
            "float16_tolerance_std": FLOAT16_TOLERANCE,
            "modalities": modalities,
        }
        # meta.json last: its presence means the folder is complete.
        (folder / "meta.json").write_text(json.dumps(meta, indent=1))
        return meta

    @classmethod
    def load(cls, folder: str | Path) -> TokenSet:
        """The token set of `folder`, its arrays memory-mapped (nothing is read yet)."""
        folder = Path(folder)
        meta = json.loads((folder / "meta.json").read_text())
        modalities = []
        for spec in meta["modalities"]:
            name = spec["name"]
            if meta.get("format", 1) >= 2:
                values = np.load(folder / f"{name}.values.npy", mmap_mode="c")
                present = np.load(folder / f"{name}.present.npy", mmap_mode="c")
                modalities.append(
                    Modality(
                        name,
                        spec["kind"],
                        values,
                        present,
                        spec["token_names"],
                        True,
                        spec.get("levels"),
                    )
                )
                continue
            with np.load(folder / f"{name}.npz") as arrays:
                modalities.append(
                    Modality(
                        name, spec["kind"], arrays["values"], arrays["present"], spec["token_names"]
                    )
                )
        return cls(
            task=meta["task"],
            modalities=modalities,
            targets=np.load(folder / "targets.npy", mmap_mode="c"),
            samples=pd.read_csv(folder / "samples.csv", dtype={"sample_id": str}),
            class_names=meta["class_names"],
        )


def token_signature(tokens: TokenSet) -> dict:
    """What a model's inputs and outputs are: task, species, modalities and their tokens (with
    the levels of categorical tokens)."""
    return {
        "task": tokens.task,
        "species": [str(name) for name in tokens.class_names],
        "modalities": [
            [m.name, m.kind, list(m.token_names), int(m.token_dim), m.levels]
            for m in tokens.modalities
        ],
    }


def check_same_tokens(trained: TokenSet, trained_name: str, sites: TokenSet, sites_name: str):
    """Refuse sites whose tokens are not those the models were trained on (another dataset,
    layout or species list), naming both and the first difference."""
    a, b = token_signature(trained), token_signature(sites)
    for key in ("task", "species", "modalities"):
        if a[key] != b[key]:
            first = next(
                (f"{x} != {y}" for x, y in zip(a[key], b[key], strict=False) if x != y),
                f"{len(a[key])} != {len(b[key])} entries",
            )
            raise ValueError(
                f"the models were trained on the tokens of {trained_name}, but the sites "
                f"{sites_name} have other {key} ({first}): predict sites read by the same "
                "reader, layout and species list as the training data"
            )


def _non_empty(parts: list[TokenSet]) -> list[TokenSet]:
    # An empty part (more shards than samples) adds nothing, but its samples table, read back
    # from a header-only CSV, has no column dtypes to agree with the others'.
    return [part for part in parts if part.n_samples] or parts[:1]
