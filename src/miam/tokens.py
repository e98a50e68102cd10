"""Tokenized data: the one format every stage after tokenization reads.

A dataset is a folder::

    meta.json          task, class names, modalities (name, kind, token names) in model order
    <modality>.npz     values (N, T_m, D_m) float32, present (N, T_m) bool
    samples.csv        one row per sample: sample_id, lon, lat (the split and the maps use them)
    targets.npy        multilabel: (N, C) uint8 presence; multiclass: (N,) int64 class index

`present` is False where the data has no value (NaN year, missing file, corrupt tile); such a
token is never shown to a model, whatever the masking says. Values of absent tokens are 0.
Only numpy and pandas are needed to read it, so it loads on a bare GPU node.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

TASKS = ("multilabel", "multiclass")
# "scalar": one number per token (tabular variable, D=1), embedded per variable as MaskSDM does;
# "vector": a feature vector per token (patch, year, audio patch), embedded by a linear projection.
KINDS = ("scalar", "vector")


def shard_rows(n_samples: int, shard: int, n_shards: int) -> slice:
    """The samples shard `shard` of `n_shards` holds: a contiguous block in sample order.

    Blocks differ in size by at most one, and shard 0, 1, ... in order cover 0..n_samples, so
    `TokenSet.concat` of the shards' token sets is the token set of one unsharded run.
    """
    assert 0 <= shard < n_shards, f"shard {shard} of {n_shards}"
    return slice(shard * n_samples // n_shards, (shard + 1) * n_samples // n_shards)


@dataclass
class Modality:
    name: str
    kind: str
    values: np.ndarray  # (N, T, D) float32
    present: np.ndarray  # (N, T) bool
    token_names: list[str]

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
        self.values = np.where(self.present[..., None], self.values, 0).astype(np.float32)
        self.present = self.present.astype(bool)

    @property
    def n_tokens(self) -> int:
        return self.values.shape[1]

    @property
    def token_dim(self) -> int:
        return self.values.shape[2]


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

    @classmethod
    def concat(cls, parts: list[TokenSet]) -> TokenSet:
        """The samples of `parts`, one after the other (e.g. the shards of one tokenization).

        Every part must have the same task, classes and modalities (names, kinds, tokens).
        """
        assert parts, "nothing to concatenate"
        first = parts[0]
        layout = [(m.name, m.kind, list(m.token_names)) for m in first.modalities]
        for i, part in enumerate(parts[1:], start=1):
            assert part.task == first.task, f"part {i}: task {part.task!r} != {first.task!r}"
            assert list(part.class_names) == list(first.class_names), f"part {i}: other classes"
            part_layout = [(m.name, m.kind, list(m.token_names)) for m in part.modalities]
            assert part_layout == layout, f"part {i}: other modalities or token names"
        # An empty part (more shards than samples) adds nothing, but its samples table, read
        # back from a header-only CSV, has no column dtypes to agree with the others'.
        parts = [part for part in parts if part.n_samples] or parts[:1]
        return cls(
            task=first.task,
            modalities=[
                Modality(
                    name,
                    kind,
                    np.concatenate([part.modalities[j].values for part in parts]),
                    np.concatenate([part.modalities[j].present for part in parts]),
                    names,
                )
                for j, (name, kind, names) in enumerate(layout)
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
                Modality(m.name, m.kind, m.values[index], m.present[index], m.token_names)
                for m in self.modalities
            ],
            targets=self.targets[index],
            samples=self.samples.iloc[index].reset_index(drop=True),
            class_names=self.class_names,
        )

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for m in self.modalities:
            np.savez_compressed(folder / f"{m.name}.npz", values=m.values, present=m.present)
        np.save(folder / "targets.npy", self.targets)
        self.samples.to_csv(folder / "samples.csv", index=False)
        meta = {
            "task": self.task,
            "class_names": list(map(str, self.class_names)),
            "modalities": [
                {"name": m.name, "kind": m.kind, "token_names": list(m.token_names)}
                for m in self.modalities
            ],
        }
        # meta.json last: its presence means the folder is complete.
        (folder / "meta.json").write_text(json.dumps(meta, indent=1))

    @classmethod
    def load(cls, folder: str | Path) -> TokenSet:
        folder = Path(folder)
        meta = json.loads((folder / "meta.json").read_text())
        modalities = []
        for spec in meta["modalities"]:
            with np.load(folder / f"{spec['name']}.npz") as arrays:
                modalities.append(
                    Modality(
                        spec["name"],
                        spec["kind"],
                        arrays["values"],
                        arrays["present"],
                        spec["token_names"],
                    )
                )
        return cls(
            task=meta["task"],
            modalities=modalities,
            targets=np.load(folder / "targets.npy"),
            samples=pd.read_csv(folder / "samples.csv", dtype={"sample_id": str}),
            class_names=meta["class_names"],
        )
