"""Ground images (JPEG/PNG photos) as patch tokens.

An image is decoded with Pillow, converted to RGB, resized to a square `size` (bilinear, so the
real dataset's photos of any size give the same token layout), scaled to [0, 1] and cut into
non-overlapping `patch` x `patch` squares. Token ``r{i}c{j}`` is the patch in row i, column j,
its vector the patch's pixels flattened as (patch, patch, RGB): ``D = patch * patch * 3``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

# What Pillow raises on a file that is not a decodable image (truncated JPEG, random bytes).
IMAGE_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError)


def read_image(path: str | Path, size: int) -> np.ndarray:
    """(size, size, 3) float32 in [0, 1]; raises one of IMAGE_DECODE_ERRORS if undecodable."""
    with Image.open(path) as image:
        image.load()  # decode now, so a truncated file fails here and not later
        rgb = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.float32) / 255.0


def patch_names(n_rows: int, n_cols: int) -> list[str]:
    return [f"r{i}c{j}" for i in range(n_rows) for j in range(n_cols)]


def image_patch_tokens(image: np.ndarray, patch: int) -> np.ndarray:
    """(H, W, C) image -> (T, patch * patch * C) tokens in row-major patch order."""
    height, width, channels = image.shape
    assert height % patch == 0 and width % patch == 0, (
        f"image {height}x{width} is not a whole number of {patch}-pixel patches"
    )
    rows, cols = height // patch, width // patch
    # (rows, patch, cols, patch, C) -> (rows, cols, patch, patch, C)
    blocks = image.reshape(rows, patch, cols, patch, channels).transpose(0, 2, 1, 3, 4)
    return blocks.reshape(rows * cols, patch * patch * channels)
