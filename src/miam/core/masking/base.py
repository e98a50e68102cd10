"""The shared strategy interface, its registry, and the one function that turns p into visibility.

A masking strategy is a distribution over the hypercube [0, 1]^M that may change during training:
`sample` draws per-modality masking probabilities p (B, M); `token_visibility` then masks every
token of modality m independently with probability p_m. Strategies only ever produce p.

Life cycle, as the trainer drives it::

    strategy.set_progress(epoch, n_epochs)      # start of every epoch (0-based epoch index)
    p = strategy.sample(batch_size, generator)  # once per training batch, the whole batch
    strategy.observe(scores, standard_errors)   # after every validation
    strategy.state()                            # flat dict of scalars to log per epoch
    strategy.state_dict() / load_state_dict(d)  # checkpoint and bit-identical resume

`sample` must be called once per training batch with the batch's size: a strategy may take one
decision per call (OPM decides per batch whether it acts at all, as its baseline does).

`observe` gets, per modality m in column order, `scores[m]` = s_m, the validation score
of the model with only modality m visible (higher is better), and optionally
`standard_errors[m]`, the standard error of s_m on the validation split: how much s_m would
move from sampling noise alone (e.g. a bootstrap or an analytic SE of the metric). Pass None
when it is unknown; a NaN entry means unknown for that modality. Strategies that use the
noise (MIAM: its floor on the learning speed) say how; the others only check the lengths.
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import Tensor

REGISTRY: dict[str, type[Strategy]] = {}

# Draws used by the Monte Carlo estimate of E[p] logged in `state()`: 2 % standard error at worst.
_EXPECTED_P_DRAWS = 8192


def register(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: make `cls` available to `make_strategy` under `cls.name`."""
    assert cls.name not in REGISTRY, f"strategy {cls.name!r} registered twice"
    REGISTRY[cls.name] = cls
    return cls


def device_of(generator: torch.Generator | None) -> torch.device:
    """Sample where the generator lives, so a CUDA generator yields CUDA tensors."""
    return generator.device if generator is not None else torch.device("cpu")


def check_probability(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return float(value)


class Strategy(ABC):
    """Base class: a distribution over per-modality masking probabilities.

    Subclasses set `name`, implement `sample`, store every constructor argument under an
    attribute of the same name (so `spec()` can rebuild them), and list in `state_fields` the
    attributes that change during training (so `state_dict()` can checkpoint them).

    Args:
        n_modalities: number of modalities M.
        modality_names: names used in `state()` keys; default "0".."M-1".
    """

    name: ClassVar[str]
    # Attributes that change during training; plain floats/lists so state dicts are JSON-able.
    state_fields: ClassVar[tuple[str, ...]] = ("epoch", "n_epochs")

    def __init__(self, n_modalities: int, *, modality_names: Sequence[str] | None = None):
        if n_modalities < 1:
            raise ValueError(f"n_modalities must be >= 1, got {n_modalities}")
        if modality_names is not None and len(modality_names) != n_modalities:
            raise ValueError(f"{len(modality_names)} modality_names for {n_modalities} modalities")
        self.n_modalities = n_modalities
        self.modality_names = None if modality_names is None else list(modality_names)
        self.epoch = 0
        self.n_epochs: int | None = None

    # --- sampling -------------------------------------------------------------------------

    @abstractmethod
    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Tensor:
        """Masking probabilities, float32 (batch_size, M), on the generator's device."""

    def expected_p(self) -> list[float]:
        """Mean masking probability per modality under the current distribution.

        Default: a fixed-seed Monte Carlo estimate, so it only moves when the distribution does.
        Subclasses with a closed form override it.
        """
        generator = torch.Generator().manual_seed(0)
        return self.sample(_EXPECTED_P_DRAWS, generator).mean(dim=0).tolist()

    # --- feedback from training -----------------------------------------------------------

    def set_progress(self, epoch: int, n_epochs: int) -> None:
        """Called at the start of each epoch; `epoch` counts from 0, `n_epochs` is the total."""
        if not 0 <= epoch < n_epochs:
            raise ValueError(f"epoch {epoch} outside [0, {n_epochs})")
        self.epoch, self.n_epochs = int(epoch), int(n_epochs)

    def observe(
        self, scores: Sequence[float], standard_errors: Sequence[float] | None = None
    ) -> None:
        """Latest unimodal validation scores, one per modality, higher is better.

        Args:
            scores: s_m per modality.
            standard_errors: the standard error of each s_m on the validation split, or None
                when unknown (see the module docstring).

        Every strategy accepts them; the static ones only check the lengths.
        """
        self._check_scores(scores)
        self._check_standard_errors(standard_errors)

    def _check_scores(self, scores: Sequence[float]) -> list[float]:
        scores = [float(s) for s in scores]
        if len(scores) != self.n_modalities:
            raise ValueError(f"{len(scores)} scores for {self.n_modalities} modalities")
        return scores

    def _check_standard_errors(self, standard_errors: Sequence[float] | None) -> list[float] | None:
        """Floats, one per modality, >= 0 or NaN (unknown); None stays None."""
        if standard_errors is None:
            return None
        standard_errors = [float(e) for e in standard_errors]
        if len(standard_errors) != self.n_modalities:
            raise ValueError(
                f"{len(standard_errors)} standard errors for {self.n_modalities} modalities"
            )
        if any(e < 0 or math.isinf(e) for e in standard_errors):
            raise ValueError(f"standard errors must be finite and >= 0, got {standard_errors}")
        return standard_errors

    # --- logging and checkpoints ----------------------------------------------------------

    def state(self) -> dict[str, float]:
        """Flat dict of scalars worth logging once per epoch; always has `expected_p.<m>`."""
        return {**self.per_modality("expected_p", self.expected_p()), **self.log_values()}

    def log_values(self) -> dict[str, float]:
        """Strategy-specific scalars for `state()`; none by default."""
        return {}

    def names(self) -> list[str]:
        """The modalities' names: modality_names, else "0".."M-1"."""
        return self.modality_names or [str(m) for m in range(self.n_modalities)]

    def per_modality(self, key: str, values: Sequence[float]) -> dict[str, float]:
        pairs = zip(self.names(), values, strict=True)
        return {f"{key}.{name}": float(value) for name, value in pairs}

    def spec(self) -> dict:
        """JSON-serialisable {"kind": name, **constructor arguments}; see `strategy_from_spec`."""
        arguments = inspect.signature(type(self).__init__).parameters
        spec = {"kind": self.name}
        for argument in list(arguments)[1:]:
            value = getattr(self, argument)
            spec[argument] = list(value) if isinstance(value, tuple) else value
        return spec

    def state_dict(self) -> dict:
        """What changes during training, for bit-identical resume (JSON-serialisable)."""
        return {field: _copy(getattr(self, field)) for field in self.state_fields}

    def load_state_dict(self, state: dict) -> None:
        if set(state) != set(self.state_fields):
            raise ValueError(
                f"{self.name} state needs keys {sorted(self.state_fields)}, got {sorted(state)}"
            )
        for field in self.state_fields:
            setattr(self, field, _copy(state[field]))

    def __repr__(self) -> str:
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.spec().items() if k != "kind")
        return f"{type(self).__name__}({arguments})"


def _copy(value):
    return list(value) if isinstance(value, list) else value


def keep_one_modality(dropped: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Rows where every modality is dropped get one modality, chosen uniformly, back.

    dropped: (B, M) bool. Vectorised; one uniform index is drawn for every row so the number of
    draws never depends on the data.
    """
    batch_size, n_modalities = dropped.shape
    rescued = torch.randint(n_modalities, (batch_size,), generator=generator, device=dropped.device)
    # A count is several times faster than .all(dim=1) over a short last dimension on CPU.
    all_dropped = dropped.sum(dim=1, dtype=torch.int32) == n_modalities
    is_rescued = rescued[:, None] == torch.arange(n_modalities, device=dropped.device)
    return dropped & ~(is_rescued & all_dropped[:, None])


def token_visibility(
    p: Tensor,
    tokens_per_modality: Sequence[int],
    present: Tensor,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Which tokens the model sees, given per-modality masking probabilities.

    Args:
        p: (B, M) masking probability of each modality.
        tokens_per_modality: T_m for each modality, in the column order of `present`.
        present: (B, T_total) bool, True where the data has a value.
        generator: source of all randomness (on `present`'s device).

    Returns:
        visible: (B, T_total) bool. A token of modality m is visible iff it is present and a
        uniform draw is >= p_m, so missing tokens are never visible. A sample with at least one
        present token always keeps one visible: if all would be masked, one present token chosen
        uniformly at random is revealed. Samples with no present token stay all False.
    """
    assert p.ndim == 2 and p.shape[1] == len(tokens_per_modality), (
        f"p {tuple(p.shape)} does not match {len(tokens_per_modality)} modalities"
    )
    assert present.shape == (p.shape[0], sum(tokens_per_modality)), (
        f"present {tuple(present.shape)} != (B={p.shape[0]}, T_total={sum(tokens_per_modality)})"
    )
    repeats = torch.as_tensor(tokens_per_modality, device=p.device)
    p_token = p.repeat_interleave(repeats, dim=1).to(present.device)  # (B, T_total)
    draw = torch.rand(present.shape, generator=generator, device=present.device)
    visible = present & (draw >= p_token)

    emptied = ~visible.any(dim=1) & present.any(dim=1)
    emptied_rows = emptied.nonzero().squeeze(1)
    # Uniform choice among present tokens: the present token with the largest uniform key.
    keys = torch.rand(
        (len(emptied_rows), present.shape[1]), generator=generator, device=present.device
    )
    keys = keys.masked_fill(~present[emptied_rows], -1.0)
    visible[emptied_rows, keys.argmax(dim=1)] = True
    return visible
