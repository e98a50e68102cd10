"""Token sets as tensors on a device, normalised with training-split statistics.

Everything a training or evaluation loop needs, and nothing that needs the data-stage libraries.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .model import ModalityLayout
from .subsets import check_subset, subset_selector
from .tokens import TokenSet


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
        means, stds = [], []
        for m in tokens.modalities:
            values = m.values[train_index].astype(np.float64)
            weight = m.present[train_index][..., None].astype(np.float64)
            count = np.maximum(weight.sum(axis=0), 1.0)
            mean = (values * weight).sum(axis=0) / count
            var = (((values - mean) ** 2) * weight).sum(axis=0) / count
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


class DeviceData:
    """Normalised values, presence and targets of a token set, as tensors on `device`."""

    def __init__(self, tokens: TokenSet, normalizer: Normalizer, device: torch.device):
        self.task = tokens.task
        self.modality_tokens = {m.name: m.token_names for m in tokens.modalities}
        self.tokens_per_modality = tokens.tokens_per_modality
        self.layout = [
            ModalityLayout(m.name, m.kind, m.n_tokens, m.token_dim) for m in tokens.modalities
        ]
        self.values = [
            torch.from_numpy(
                np.where(m.present[..., None], (m.values - mean) / std, 0).astype(np.float32)
            ).to(device)
            for m, mean, std in zip(
                tokens.modalities, normalizer.means, normalizer.stds, strict=True
            )
        ]
        self.present = torch.from_numpy(
            np.concatenate([m.present for m in tokens.modalities], axis=1)
        ).to(device)
        self.targets_numpy = tokens.targets
        dtype = torch.float32 if tokens.task == "multilabel" else torch.int64
        self.targets = torch.from_numpy(tokens.targets).to(device=device, dtype=dtype)
        self.device = device

    def __len__(self) -> int:
        return self.present.shape[0]

    def batch(self, index: Tensor) -> list[Tensor]:
        return [v[index] for v in self.values]

    def selector(self, spec: dict, name: str = "subset") -> Tensor:
        """(T,) bool on device: tokens a named subset shows; ValueError if it selects nothing."""
        check_subset(name, spec, self.modality_tokens)
        return torch.from_numpy(subset_selector(spec, self.modality_tokens)).to(self.device)
