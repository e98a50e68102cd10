"""Time-series cubes: safe loading of `.pt` tensors and one token per year.

GeoPlant ships one pickled tensor per survey (``..._<surveyId>_cube.pt``) inside a zip
archive. `CubeStore` indexes such files by survey id in a zip (read member by member, never
extracted) or in a folder. Cubes are pickles from the internet, so they are loaded with
``torch.load(weights_only=True)`` only (`miam.inputs.untrusted_tensors`): a pickle that asks for
anything but tensors (e.g. a ``__reduce__`` calling ``os.system``) is refused and recorded as
``corrupt_file`` with what was refused, never with torch's advice to load it unsafely.

`year_tokens` turns a cube into one token per year: for a year axis `axis`, the token of year
``i`` is ``cube.take(i, axis).ravel()`` (C order over the remaining axes). A token containing
any NaN, inf or |x| > 1e10 (a fill value) is absent (a missing year).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from miam.inputs.quality import QualityLog, fill_values
from miam.inputs.tokenize.store import MemberStore
from miam.inputs.untrusted_tensors import UnsafeFileError, load_untrusted_tensors, refusal

CUBE_NAME = re.compile(r"_(\d+)_cube\.pt$")


def load_cube(
    data: bytes,
    shape: tuple[int, ...],
    quality: QualityLog,
    modality: str,
    sample_id,
    label: str,
) -> np.ndarray | None:
    """The float32 array of a `.pt` cube of the given shape, or None (recorded).

    Anything `torch.load(weights_only=True)` refuses or cannot decode is ``corrupt_file``;
    a tensor of another shape is ``wrong_shape``.
    """
    try:
        cube = load_untrusted_tensors(data, label)
    except UnsafeFileError as error:
        quality.record(modality, "corrupt_file", sample_id, label, refusal(error.__cause__))
        return None
    except (RuntimeError, EOFError, ValueError, OSError) as error:
        quality.record(modality, "corrupt_file", sample_id, label, str(error).splitlines()[0])
        return None
    if not isinstance(cube, torch.Tensor):
        quality.record(modality, "corrupt_file", sample_id, label, f"holds {type(cube).__name__}")
        return None
    if tuple(cube.shape) != tuple(shape):
        quality.record(
            modality, "wrong_shape", sample_id, label, f"{tuple(cube.shape)} != {tuple(shape)}"
        )
        return None
    return cube.to(torch.float32).numpy()


class CubeStore(MemberStore):
    """Cube files by survey id, in a zip archive or a folder (searched recursively)."""

    def __init__(self, location: str | Path):
        super().__init__(location, CUBE_NAME, lambda sample_id: f"*_{sample_id}_cube.pt")

    def read(
        self, sample_id, shape: tuple[int, ...], quality: QualityLog, modality: str
    ) -> np.ndarray | None:
        """The cube of `sample_id` (see `load_cube`), or None with the problem recorded."""
        found = self.fetch(sample_id, quality, modality)
        if found is None:
            return None
        data, label = found
        return load_cube(data, shape, quality, modality, sample_id, label)


def year_tokens(cube: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """(Y, D) tokens, one per index of `axis`, and (Y,) `present` (False where any NaN or fill
    value, `miam.inputs.quality.fill_values`)."""
    tokens = np.moveaxis(cube, axis, 0).reshape(cube.shape[axis], -1)
    present = np.isfinite(tokens).all(axis=1) & ~fill_values(tokens).any(axis=1)
    return np.where(present[:, None], tokens, 0.0).astype(np.float32), present
