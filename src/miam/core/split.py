"""Seeded train/val/test split of a token set's samples (`split.kind`).

- ``spatial`` (MaskSDM's): samples are grouped into square blocks; whole blocks go to one split,
  so nearby samples never straddle train and test. `block_size` is in degrees of lon/lat
  (``units: degrees``) or in metres (``units: metres``): metre blocks are cut in the sinusoidal
  equal-area projection of the samples' lon/lat (x = R lon cos(lat), y = R lat), so a block
  covers the same ground area anywhere; the reader has already reprojected projected
  coordinates (UTM, national grids) to lon/lat.
- ``group``: whole groups (the samples' `group` column: a site, a transect, a region) go to one
  split.
- ``random``: samples are shuffled one by one.

Blocks (or groups) are shuffled, then filled into test, val and train by sample count. When
there are about as many blocks as samples, a spatial split is a random one in disguise: a
warning says so. The split seed is the dataset's, never a training seed.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from miam.core.errors import InputError

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
KINDS = ("spatial", "group", "random")
UNITS = ("degrees", "metres")
EARTH_RADIUS_M = 6_371_008.8
# More blocks than this share of the samples: the blocks hardly group anything.
BLOCKS_PER_SAMPLE_WARNING = 0.5


def _check_fractions(val_fraction: float, test_fraction: float) -> None:
    if not (0 < val_fraction and 0 < test_fraction and val_fraction + test_fraction < 1):
        raise ValueError(
            f"split: val_fraction {val_fraction} and test_fraction {test_fraction} must be "
            "positive and leave samples for training"
        )


def block_keys(
    lon: np.ndarray, lat: np.ndarray, block_size: float, units: str = "degrees"
) -> np.ndarray:
    """The spatial block of each point, as one integer per block."""
    if units not in UNITS:
        raise ValueError(f"split.units: {units!r} is not one of {UNITS}")
    lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    if units == "metres":
        x = EARTH_RADIUS_M * np.radians(lon) * np.cos(np.radians(lat))
        y = EARTH_RADIUS_M * np.radians(lat)
    else:
        x, y = lon, lat
    column, row = np.floor(x / block_size), np.floor(y / block_size)
    return column.astype(np.int64) * 100_003 + row.astype(np.int64)


def grouped_split(
    keys: np.ndarray, val_fraction: float = 0.15, test_fraction: float = 0.15, seed: int = 0
) -> tuple[np.ndarray, int]:
    """Split name per sample with whole groups (equal `keys`) in one split; and the group count.

    Groups are shuffled, then filled into test, val, train by count.
    """
    _check_fractions(val_fraction, test_fraction)
    blocks, block_of_sample, block_counts = np.unique(keys, return_inverse=True, return_counts=True)
    n = len(keys)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(blocks))
    before = (np.cumsum(block_counts[order]) - block_counts[order]) / n
    split_of_block = np.empty(len(blocks), dtype=object)
    # A block goes to test while the test share is not yet reached, then to val, then train.
    split_of_block[order] = np.where(
        before < test_fraction,
        "test",
        np.where(before < test_fraction + val_fraction, "val", "train"),
    )
    return split_of_block[block_of_sample].astype(str), len(blocks)


def _empty_splits(split: np.ndarray) -> list[str]:
    return [s for s in SPLITS if not (split == s).any()]


def spatial_block_split(
    lon: np.ndarray,
    lat: np.ndarray,
    block_size: float = 5.0,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
    units: str = "degrees",
) -> np.ndarray:
    """Split name per sample, whole spatial blocks in one split (see the module doc)."""
    lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    located = np.isfinite(lon) & np.isfinite(lat)
    if len(lon) and not located.any():
        raise InputError(
            f"split: a spatial split needs coordinates, and none of the {len(lon)} samples has "
            "any (empty lon/lat in the tokens' samples.csv). Use split: {kind: random} or "
            "{kind: group}, or give the sample table's coordinates (reader_options.coordinates "
            "of the generic reader)"
        )
    if not located.all():
        # As before: they share the block of (0, 0) (a reader drops or masks such samples).
        log.warning(
            "spatial split: %d of %d samples have no coordinates; they share one block",
            int((~located).sum()),
            len(lon),
        )
        lon, lat = np.where(located, lon, 0.0), np.where(located, lat, 0.0)
    split, n_blocks = grouped_split(
        block_keys(lon, lat, block_size, units), val_fraction, test_fraction, seed
    )
    missing = _empty_splits(split)
    if missing:
        raise InputError(
            f"spatial split with block_size={block_size} {units} leaves {missing} empty "
            f"({n_blocks} blocks for {len(lon)} samples): use a smaller block_size"
        )
    if len(lon) >= 20 and n_blocks > BLOCKS_PER_SAMPLE_WARNING * len(lon):
        hint = (
            " (a block_size in metres? set split.units: metres)"
            if units == "degrees" and block_size >= 100
            else ""
        )
        log.warning(
            "spatial split: block_size=%s %s gives %d blocks for %d samples, about one per "
            "sample: this is close to a random split; nearby samples will straddle train and "
            "test. Use larger blocks%s.",
            block_size,
            units,
            n_blocks,
            len(lon),
            hint,
        )
    log.info("spatial split: %d blocks of %s %s", n_blocks, block_size, units)
    return split


def group_split(groups, val_fraction=0.15, test_fraction=0.15, seed=0) -> np.ndarray:
    """Split name per sample, whole groups in one split."""
    groups = pd.Series(groups).astype(str).to_numpy()
    split, n_groups = grouped_split(groups, val_fraction, test_fraction, seed)
    missing = _empty_splits(split)
    if missing:
        raise InputError(
            f"group split: {n_groups} groups for {len(groups)} samples leave {missing} empty; "
            "it needs more groups"
        )
    log.info("group split: %d groups", n_groups)
    return split


def random_split(n: int, val_fraction=0.15, test_fraction=0.15, seed=0) -> np.ndarray:
    """Split name per sample, samples shuffled one by one."""
    split, _ = grouped_split(np.arange(n), val_fraction, test_fraction, seed)
    missing = _empty_splits(split)
    if missing:
        raise InputError(f"random split: {n} samples leave {missing} empty")
    return split


def split_samples(
    samples: pd.DataFrame,
    kind: str = "spatial",
    block_size: float = 5.0,
    units: str = "degrees",
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
) -> np.ndarray:
    """Split name per row of `samples` (sample_id, lon, lat[, group]) by `kind`."""
    fractions = {"val_fraction": val_fraction, "test_fraction": test_fraction, "seed": seed}
    if kind == "spatial":
        return spatial_block_split(
            samples["lon"], samples["lat"], block_size, units=units, **fractions
        )
    if kind == "group":
        if "group" not in samples.columns:
            raise InputError(
                "split: kind group needs each sample's group, and the samples have none "
                "(the generic reader keeps the column named by reader_options.group)"
            )
        return group_split(samples["group"], **fractions)
    if kind == "random":
        return random_split(len(samples), **fractions)
    raise ValueError(f"split.kind: {kind!r} is not one of {KINDS}")


def write_split(samples: pd.DataFrame, path, **params) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "sample_id": samples["sample_id"].astype(str),
            "split": split_samples(samples, **params),
        }
    )
    counts = frame["split"].value_counts()
    log.info("split: %s", ", ".join(f"{s} {counts.get(s, 0)}" for s in SPLITS))
    frame.to_csv(path, index=False)
    return frame


def split_indices(split_csv) -> dict[str, np.ndarray]:
    """Sample indices (rows of the token set) per split."""
    split = pd.read_csv(split_csv)["split"].to_numpy()
    return {name: np.flatnonzero(split == name) for name in SPLITS}
