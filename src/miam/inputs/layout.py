"""Where a reader finds a release's files: the `layout` section of its dataset YAML.

A layout maps each file key to the paths tried in order, relative to the data folder, with
``{split}`` / ``{Split}`` placeholders (`config/datasets/geoplant.yaml` documents GeoPlant's, one
path per known release). A reader given no layout reads the one of this repository's dataset
YAML (`DATASET_CONFIGS`). `find` returns the first path that exists; `require` stops the run
with every path tried and the YAML key to set when none does.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from miam.inputs.archive import is_extracted

DATASET_CONFIGS = Path(__file__).resolve().parents[3] / "config" / "datasets"


def release_layout(dataset: str, layout: dict | None = None) -> dict:
    """`layout`, or the `layout` of config/datasets/<dataset>.yaml."""
    if layout is not None:
        return layout
    return yaml.safe_load((DATASET_CONFIGS / f"{dataset}.yaml").read_text())["layout"]


def candidates(root: Path, layout: dict, key: str, names: dict) -> list[Path]:
    """Every path `key` may be at, in the order tried."""
    roots = [root / folder for folder in layout.get("root", ["."])]
    found = []
    for template in layout[key]:
        relative = template.format(**names)
        found += [base / relative for base in roots if (base / relative) not in found]
    return found


def find(root: Path, layout: dict, key: str, names: dict) -> tuple[Path | None, list[Path]]:
    """(the first of `candidates` that exists, every path tried).

    An archive (``.zip``) is read from its completed extraction when there is one (the marker
    of `miam.inputs.archive.safe_extract`), else from the zip, else from a folder of the same
    name without the suffix (a copy extracted by other means, as on Kaggle).
    """
    tried = []
    for path in candidates(root, layout, key, names):
        options = [path]
        if path.suffix == ".zip":
            folder = path.with_suffix("")
            options = [folder] if is_extracted(folder) else [path, folder]
        for option in options:
            tried.append(option)
            if option.exists():
                return option, tried
    return None, tried


def missing_message(dataset: str, key: str, tried: list[Path]) -> str:
    listed = "\n  ".join(map(str, tried))
    return (
        f"{dataset}: no {key} file; tried:\n  {listed}\n"
        f"Set layout.{key} in config/datasets/{dataset}.yaml (or the reader option `layout`) "
        "to where your copy has it."
    )


def require(root: Path, layout: dict, key: str, names: dict, dataset: str) -> Path:
    """The path of a file the reader cannot do without; ValueError listing every path tried."""
    path, tried = find(root, layout, key, names)
    if path is None:
        raise ValueError(missing_message(dataset, key, tried))
    return path
