"""Named input subsets as token selectors.

A subset maps modality names to the tokens it keeps visible: ``"all"`` or a list of glob
patterns matched against token names, e.g. ``{"tabular": ["bio1"]}`` ("BIO1 only"),
``{"climate": ["2018"]}`` ("climate 2018 only"), ``{"tabular": "all", "satellite": "all"}``.
Modalities not named are hidden. Selecting never reveals a token the data lacks: evaluation
combines the selector with `present`.
"""

from __future__ import annotations

import itertools
from fnmatch import fnmatchcase

import numpy as np

from miam.core.errors import InputError

SubsetSpec = dict[str, "str | list[str]"]


def token_layout(modality_tokens: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(modality, token name) for every token, in model order."""
    return [(m, t) for m, names in modality_tokens.items() for t in names]


def check_subset(name: str, spec: SubsetSpec, modality_tokens: dict[str, list[str]]) -> None:
    """Raise ValueError naming the subset and the key when `spec` selects nothing or is unknown."""
    for modality, selection in spec.items():
        if modality not in modality_tokens:
            raise InputError(
                f"subset {name!r} names modality {modality!r}; "
                f"modalities are {sorted(modality_tokens)}"
            )
        if selection == "all":
            continue
        for pattern in selection:
            if not any(fnmatchcase(t, pattern) for t in modality_tokens[modality]):
                raise InputError(
                    f"subset {name!r}: pattern {pattern!r} matches no token of {modality!r} "
                    f"(tokens: {modality_tokens[modality][:8]}...)"
                )
    if not spec:
        raise ValueError(f"subset {name!r} selects no modality")


def subset_selector(spec: SubsetSpec, modality_tokens: dict[str, list[str]]) -> np.ndarray:
    """Boolean (T_total,) vector: True where the subset shows the token."""
    return np.array(
        [
            m in spec and (spec[m] == "all" or any(fnmatchcase(t, p) for p in spec[m]))
            for m, t in token_layout(modality_tokens)
        ],
        dtype=bool,
    )


def modality_subsets(modalities: list[str]) -> dict[str, SubsetSpec]:
    """All 2^M - 1 non-empty combinations of whole modalities, named 'a+b', smallest first."""
    return {
        "+".join(combo): {m: "all" for m in combo}
        for k in range(1, len(modalities) + 1)
        for combo in itertools.combinations(modalities, k)
    }
