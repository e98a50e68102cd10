"""Token sets as tensors on a device, normalised with training-split statistics.

Everything a training or evaluation loop needs, and nothing that needs the data-stage libraries.
A job copies only what it uses out of the memory-mapped token folder (`miam.core.tokens`): the rows
and modalities it asks for, as stored (float16 or float32), never the whole file at once.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from miam.core.model import ModalityLayout
from miam.core.subsets import check_subset, subset_selector
from miam.core.tokens import CHUNK_BYTES, Modality, TokenSet, release_pages, row_blocks


def derive_seed(seed: int, purpose: str, *more) -> int:
    """A stable 63-bit seed per (seed, purpose, ...): one generator per purpose, never shared."""
    text = "/".join(map(str, (seed, purpose, *more)))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def generator(seed: int, purpose: str, *more, device="cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(derive_seed(seed, purpose, *more))


@dataclass
class Normalizer:
    """Per (modality, token, feature) mean and std over present training tokens."""

    means: list[np.ndarray]  # (T_m, D_m) each
    stds: list[np.ndarray]

    @classmethod
    def fit(cls, tokens: TokenSet, train_index: np.ndarray) -> Normalizer:
        """Two passes over the training rows, a block at a time: memory stays bounded."""
        means, stds = [], []
        for m in tokens.modalities:
            mean, var = feature_moments(m, np.asarray(train_index))
            means.append(mean.astype(np.float32))
            # Constant features (and tokens never present) are centred but not scaled.
            stds.append(np.where(var > 1e-12, np.sqrt(var), 1.0).astype(np.float32))
        return cls(means, stds)

    def state_dict(self) -> dict:
        return {
            "means": [torch.from_numpy(a) for a in self.means],
            "stds": [torch.from_numpy(a) for a in self.stds],
        }

    @classmethod
    def from_state_dict(cls, state: dict) -> Normalizer:
        return cls([t.numpy() for t in state["means"]], [t.numpy() for t in state["stds"]])


def feature_moments(m: Modality, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) variance per (token, feature) of the present values at `index`,
    in float64, reading `CHUNK_BYTES` of rows at a time."""
    shape = m.values.shape[1:]
    row_bytes = int(np.prod(shape)) * 8
    count, total = np.zeros(shape[0]), np.zeros(shape)
    blocks = list(row_blocks(len(index), row_bytes, CHUNK_BYTES))
    for block in blocks:  # absent values are 0: the plain sum is the sum over present ones
        count += m.present[index[block]].sum(axis=0)
        total += np.asarray(m.values[index[block]], dtype=np.float64).sum(axis=0)
        release_pages(m.values)
    count = np.maximum(count, 1.0)[:, None]
    mean = total / count
    squares = np.zeros(shape)
    for block in blocks:
        values = np.asarray(m.values[index[block]], dtype=np.float64)
        weight = m.present[index[block]][..., None]
        squares += np.where(weight, np.square(values - mean), 0.0).sum(axis=0)
        release_pages(m.values)
    return mean, squares / count


@dataclass
class HeldModality:
    """One modality's normalised values on the device, in the stored precision (float16 or
    float32), 0 where a token is absent; `values` None: not held, its tokens are absent."""

    values: Tensor | None
    tokens: slice  # its columns of `present`


class DeviceData:
    """Presence and targets of a token set, and the values a job needs, as tensors on `device`.

    Values are normalised with the training-split `normalizer` once, when they are copied in,
    and held in the stored precision (float16 or float32), absent tokens set to 0: `batch`
    only gathers rows and widens them to float32, so a training step does no arithmetic on
    values it does not use, in half the memory where the token folder stores float16 (the
    rounding of a normalised float16 value, |z| * 2^-11, is well inside the stored values'
    own float16 error bound, `max_error_std` in the token folder's meta.json).

    rows: the samples whose values are held (None: all of them); `batch` of another sample
        raises an IndexError. Presence and targets are always those of every sample, indexed
        by sample number.
    modalities: names of the modalities whose values are held (None: all); the tokens of the
        others are marked absent, so no model is ever shown them.
    Every DeviceData of one TokenSet, normaliser, device and rows shares one copy of the held
    values (the models of a dataset share their split, hence their normaliser): evaluating
    many models of a dataset costs one copy. Writing to the TokenSet's arrays afterwards is
    not seen.
    """

    def __init__(
        self,
        tokens: TokenSet,
        normalizer: Normalizer,
        device: torch.device,
        rows: np.ndarray | None = None,
        modalities: list[str] | None = None,
    ):
        device = torch.device(device)
        unknown = set(modalities or []) - set(tokens.modality_names)
        assert not unknown, f"unknown modalities {sorted(unknown)}; {tokens.modality_names}"
        self.task = tokens.task
        self.modality_tokens = {m.name: m.token_names for m in tokens.modalities}
        self.tokens_per_modality = tokens.tokens_per_modality
        self.layout = [
            ModalityLayout(m.name, m.kind, m.n_tokens, m.token_dim) for m in tokens.modalities
        ]
        self.n_samples = tokens.n_samples
        rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        present = np.concatenate([np.asarray(m.present) for m in tokens.modalities], axis=1)
        self.held: list[HeldModality] = []
        start = 0
        for m, mean, std in zip(tokens.modalities, normalizer.means, normalizer.stds, strict=True):
            tokens_of_m = slice(start, start + m.n_tokens)
            start += m.n_tokens
            held = modalities is None or m.name in modalities
            if not held:
                present[:, tokens_of_m] = False
            values = held_values(tokens, m, mean, std, rows, device) if held else None
            self.held.append(HeldModality(values, tokens_of_m))
        self.present = torch.from_numpy(present).to(device)
        # Modalities some sample may show: `batch` hands out None for the others.
        self.shown = [held.values is not None for held in self.held]
        self.local_row = None  # sample number -> row of the held values
        if rows is not None:
            local = torch.full((self.n_samples,), len(rows), dtype=torch.int64)
            local[torch.from_numpy(rows)] = torch.arange(len(rows))
            self.local_row = local.to(device)
        self.targets_numpy = tokens.targets
        dtype = torch.float32 if tokens.task == "multilabel" else torch.int64
        self.targets = torch.from_numpy(np.array(tokens.targets)).to(device=device, dtype=dtype)
        self.device = device

    def __len__(self) -> int:
        return self.present.shape[0]

    def batch(self, index: Tensor) -> list[Tensor | None]:
        """Normalised float32 values (B, T_m, D_m) per modality of the samples `index`, 0 where
        a token is absent; None for a modality no sample shows here (not held, or outside
        the subset of `restricted`): the model embeds nothing for it."""
        rows = index if self.local_row is None else self.local_row[index]
        # index_select, not values[rows]: the same rows, 4-5x faster on a CPU.
        return [
            held.values.index_select(0, rows).float() if shown else None
            for held, shown in zip(self.held, self.shown, strict=True)
        ]

    def restricted(self, spec: dict, name: str = "subset") -> DeviceData:
        """A view in which only the tokens of subset `spec` exist (an oracle's inputs); the
        held values are shared, not copied."""
        view = copy.copy(self)
        view.present = self.present & self.selector(spec, name)
        view.shown = [
            shown and bool(view.present[:, held.tokens].any())
            for held, shown in zip(self.held, self.shown, strict=True)
        ]
        return view

    def selector(self, spec: dict, name: str = "subset") -> Tensor:
        """(T,) bool on device: tokens a named subset shows; ValueError if it selects nothing."""
        check_subset(name, spec, self.modality_tokens)
        return torch.from_numpy(subset_selector(spec, self.modality_tokens)).to(self.device)


# On a CPU, converting float16 to float32 is about a tenth of a small model's training step
# (a 64-sample batch of GeoPlant tiles: 1.6 ms of 16), so a modality is held in float32 when
# that takes at most this much memory; larger ones (paper-scale tiles) and every modality on
# a GPU, where the conversion is free, stay in the stored precision.
CPU_FLOAT32_HOLD_BYTES = 2 << 30


def held_values(
    tokens: TokenSet,
    m: Modality,
    mean: np.ndarray,
    std: np.ndarray,
    rows: np.ndarray | None,
    device,
) -> Tensor:
    """The normalised values of `m` at `rows` on `device`, 0 where absent, in the stored
    precision (float32 on a CPU within CPU_FLOAT32_HOLD_BYTES): computed a block of rows at a
    time (memory stays about the result) and shared by every DeviceData asking for the same
    (token set, modality, normaliser, rows, device)."""
    mean, std = np.asarray(mean, dtype=np.float32), np.asarray(std, dtype=np.float32)
    digest = hashlib.sha1(mean.tobytes() + std.tobytes())
    if rows is not None:
        digest.update(rows.tobytes())
    key = (m.name, id(m.values), digest.hexdigest(), str(device))
    cache = tokens.__dict__.setdefault("_held_values", {})
    if key not in cache:
        n_rows = m.values.shape[0] if rows is None else len(rows)
        row_bytes = int(np.prod(m.values.shape[1:], dtype=np.int64)) * 4
        as_float32 = (
            torch.device(device).type == "cpu" and n_rows * row_bytes <= CPU_FLOAT32_HOLD_BYTES
        )
        out = np.empty(
            (n_rows, *m.values.shape[1:]), dtype=np.float32 if as_float32 else m.values.dtype
        )
        for block in row_blocks(n_rows, row_bytes, CHUNK_BYTES):
            picked = block if rows is None else np.asarray(rows[block])
            values = (np.asarray(m.values[picked], dtype=np.float32) - mean) / std
            out[block] = np.where(np.asarray(m.present[picked])[..., None], values, 0.0)
            release_pages(m.values)
        cache[key] = torch.from_numpy(out).to(device)
    return cache[key]
