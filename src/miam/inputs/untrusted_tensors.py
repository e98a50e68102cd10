"""Loading `.pt` tensor files from the internet (GeoPlant's cubes are pickles) without running them.

`load_untrusted_tensors` calls `torch.load` with `weights_only=True`, so a pickle that asks for
anything beyond tensors and plain containers (a class whose `__reduce__` calls `os.system`) is
refused before its payload runs, and raises `UnsafeFileError` naming the file and what was
refused. torch's own message advises retrying with `weights_only=False`, which is exactly what
must not be done with such a file: that advice never reaches the error (nor a quality report).
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path


class UnsafeFileError(ValueError):
    """A file cannot be loaded safely (a pickle that needs more than tensors)."""


def load_untrusted_tensors(source: str | Path | bytes | io.IOBase, name: str | None = None):
    """`torch.load(weights_only=True)` on the CPU of a path, the file's bytes or an open binary
    file; `name` labels it in errors (default: the path). Raises `UnsafeFileError`."""
    if isinstance(source, bytes | bytearray):
        label, handle = name or "<bytes>", io.BytesIO(source)
    elif isinstance(source, str | Path):
        label, handle = name or str(source), source
    else:
        label, handle = name or getattr(source, "name", "<stream>"), source
    import torch  # here: the workflow imports miam.inputs at every parse, torch is slow to load

    try:
        return torch.load(handle, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as error:
        raise UnsafeFileError(
            f"{label}: refused to load: not a plain tensor file under weights_only=True "
            f"(malicious or corrupt pickle): {refusal(error)}"
        ) from error


def refusal(error: Exception) -> str:
    """What torch refused (e.g. 'Unsupported global: GLOBAL posix.system'), without its advice
    to load with weights_only=False."""
    paragraphs = [p.strip() for p in str(error).split("\n\n") if p.strip()]
    details = [
        p
        for p in paragraphs
        if "weights_only" not in p and not p.startswith("Check the documentation")
    ]
    return details[0] if details else type(error).__name__
