"""Seeded spatial block split (train/val/test), as MaskSDM does.

Samples are grouped into square lon/lat blocks; whole blocks go to one split, so nearby
samples never straddle train and test. The split seed is the dataset's, never a training seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SPLITS = ("train", "val", "test")


def spatial_block_split(
    lon: np.ndarray,
    lat: np.ndarray,
    block_size: float = 5.0,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
) -> np.ndarray:
    """Split name per sample. Blocks are shuffled, then filled into test, val, train by count."""
    if not (0 < val_fraction and 0 < test_fraction and val_fraction + test_fraction < 1):
        raise ValueError(
            f"split: val_fraction {val_fraction} and test_fraction {test_fraction} must be "
            "positive and leave samples for training"
        )
    lon = np.nan_to_num(np.asarray(lon, dtype=np.float64))
    lat = np.nan_to_num(np.asarray(lat, dtype=np.float64))
    block = np.floor(lon / block_size).astype(np.int64) * 100_003 + np.floor(lat / block_size)
    blocks, block_of_sample, block_counts = np.unique(
        block, return_inverse=True, return_counts=True
    )
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(blocks))
    filled = np.cumsum(block_counts[order]) / len(lon)
    split_of_block = np.empty(len(blocks), dtype=object)
    # A block goes to test while the test share is not yet reached, then to val, then train.
    split_of_block[order] = np.where(
        filled - block_counts[order] / len(lon) < test_fraction,
        "test",
        np.where(
            filled - block_counts[order] / len(lon) < test_fraction + val_fraction, "val", "train"
        ),
    )
    split = split_of_block[block_of_sample].astype(str)
    missing = [s for s in SPLITS if not (split == s).any()]
    if missing:
        raise ValueError(
            f"spatial split with block_size={block_size} leaves {missing} empty "
            f"({len(blocks)} blocks for {len(lon)} samples): use a smaller block_size"
        )
    return split


def write_split(samples: pd.DataFrame, path, **params) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "sample_id": samples["sample_id"].astype(str),
            "split": spatial_block_split(samples["lon"], samples["lat"], **params),
        }
    )
    frame.to_csv(path, index=False)
    return frame


def split_indices(split_csv) -> dict[str, np.ndarray]:
    """Sample indices (rows of the token set) per split."""
    split = pd.read_csv(split_csv)["split"].to_numpy()
    return {name: np.flatnonzero(split == name) for name in SPLITS}
