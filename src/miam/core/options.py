"""Options given as a mapping, checked against a table of what is accepted.

A table maps each option to its default, `REQUIRED` where it has none. The workflow checks a
config's strategies and readers with it, the generic reader its options, the settings classes
their keys; every error names the config key it is about. Standard library only: the workflow
checks options each time it parses.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from inspect import Parameter

# The default `inspect` reports for a parameter without one, so that a table of options compares
# equal to a signature's (tests/test_pipeline.py compares the masking strategies').
REQUIRED = Parameter.empty


def check_names(options: Mapping, accepted: Iterable[str], where: str, what: str) -> None:
    """ValueError naming `where` when `options` is no mapping or has a key not `accepted`."""
    if not isinstance(options, Mapping):
        raise ValueError(f"{where}: {what} must be a mapping, got {options!r}")
    accepted = list(accepted)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"{where}: unknown option(s) {', '.join(unknown)} for {what}"
            f"{did_you_mean(unknown[0], accepted)}; accepted: {', '.join(accepted) or 'none'}"
        )


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """ " (did you mean `kappa`?)" when a known name is close to `word` (a typo), else ""."""
    close = difflib.get_close_matches(str(word), [str(k) for k in known], n=1, cutoff=0.75)
    return f" (did you mean `{close[0]}`?)" if close else ""


def filled_options(options: Mapping, accepted: Mapping, where: str, what: str) -> dict:
    """`options` with the defaults of `accepted`; ValueError naming `where` on an unknown key
    or a missing `REQUIRED` one."""
    check_names(options, accepted, where, what)
    for key, default in accepted.items():
        if default is REQUIRED and key not in options:
            raise ValueError(f"{where}: {what} needs `{key}`")
    return {key: options.get(key, default) for key, default in accepted.items()}
