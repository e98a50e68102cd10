"""The modality health gate: no model is trained, and no table filled, on a modality that never
arrived.

Run once the tokens are gathered, before any training job. For each modality it compares what
arrived (the samples with at least one present token) with what the data could give, from the
quality report:

- absent for every sample, or rejected for more than `max_rejected` of the samples whose file
  exists (the file is there, but every token of the sample is absent for a reason such as
  ``corrupt_file``, ``wrong_shape``, ``wrong_dtype``, ``out_of_range``): the run stops, naming
  the modality, its top reasons with counts, two example files, the file listing every issue
  and the key that lets it pass, ``datasets.<name>.allow_absent``. A modality listed there
  passes, with a note;
- present in fewer than `warn_below` of the samples: a warning and a note.

The notes go under the dataset's tables (`main.md` and the others), so a column computed without
a modality says so.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd

from miam.core.errors import InputError
from miam.core.tokens import TokenSet
from miam.inputs.quality import ADJUSTMENTS

log = logging.getLogger(__name__)

# Reasons for which a file that exists gives nothing (a missing file is not a rejection).
REJECTIONS = ("corrupt_file", "wrong_shape", "wrong_dtype", "nodata", "out_of_range")
TOP_REASONS = 3
EXAMPLE_FILES = 2


@dataclass(frozen=True)
class HealthGate:
    max_rejected: float = 0.2  # share of existing files rejected above which the run stops
    warn_below: float = 0.5  # presence below which the tables carry a note


class ModalityHealthError(InputError):
    """A modality did not arrive (see the module doc); the message says what to do."""


def modality_health(tokens: TokenSet, issues: pd.DataFrame) -> list[dict]:
    """Per modality: presence (share of samples with a token present), the share of existing
    files rejected, the top reasons with counts, example files with why (the detail of their
    first issue)."""
    sample_ids = tokens.samples["sample_id"].astype(str).to_numpy()
    health = []
    for m in tokens.modalities:
        arrived = np.asarray(m.present).any(axis=1)
        rows = issues[(issues["modality"] == m.name) & ~issues["reason"].isin(ADJUSTMENTS)]
        missing = rows.loc[rows["reason"] == "missing_file", "sample_id"].nunique()
        rejected_ids = set(rows.loc[rows["reason"].isin(REJECTIONS), "sample_id"])
        rejected = int(np.isin(sample_ids[~arrived], list(rejected_ids)).sum())
        existing = len(sample_ids) - missing
        # An example per file, with why (the detail of its first issue of the top reason)
        top = rows[rows["reason"] == rows["reason"].mode().iloc[0]] if len(rows) else rows
        named = top[top["path"] != ""].drop_duplicates("path")
        examples = [
            f"{path} ({detail})" if detail else path
            for path, detail in zip(named["path"], named["detail"], strict=True)
        ]
        health.append(
            {
                "modality": m.name,
                "presence": float(arrived.mean()) if len(arrived) else 0.0,
                "rejected": rejected / existing if existing else 0.0,
                "reasons": rows["reason"].value_counts().head(TOP_REASONS).to_dict(),
                "examples": examples[:EXAMPLE_FILES],
            }
        )
    return health


def check_health(
    health: list[dict],
    dataset: str,
    allow_absent: list[str],
    gate: HealthGate = HealthGate(),
    issues_csv: str = "",
) -> list[str]:
    """The notes for the tables; raises ModalityHealthError for a modality that did not arrive
    and is not in `allow_absent` (naming `issues_csv`, the file that lists every issue)."""
    unknown = sorted(set(allow_absent) - {h["modality"] for h in health})
    if unknown:
        raise ModalityHealthError(
            f"datasets.{dataset}.allow_absent names {unknown}, which are not modalities of "
            f"the dataset: {[h['modality'] for h in health]}"
        )
    notes, failures = [], []
    for h in health:
        problem = _problem(h, gate)
        if problem and h["modality"] not in allow_absent:
            failures.append(_failure(h, problem, dataset, issues_csv))
        elif problem:
            # avg stays the mean over every named column (the paper's): say what enters it
            unseen = ""
            if h["presence"] == 0:
                unseen = ": its columns show no data of it, and avg averages them"
            notes.append(f"{h['modality']}: {problem} (let through by allow_absent){unseen}.")
        elif h["presence"] < gate.warn_below:
            notes.append(f"{h['modality']} is present in only {h['presence']:.0%} of the samples.")
    if failures:
        raise ModalityHealthError("\n\n".join(failures))
    return notes


def _problem(h: dict, gate: HealthGate) -> str:
    if h["presence"] == 0:
        return "never arrived (absent for every sample)"
    if h["rejected"] > gate.max_rejected:
        return f"{h['rejected']:.0%} of the files that exist were rejected"
    return ""


def _failure(h: dict, problem: str, dataset: str, issues_csv: str) -> str:
    reasons = ", ".join(f"{reason} {count}" for reason, count in h["reasons"].items())
    examples = "; ".join(h["examples"]) or "none named"
    listed = f"({issues_csv} lists every issue.) " if issues_csv else ""
    return (
        f"modality {h['modality']!r} {problem}.\n"
        f"  top reasons: {reasons or 'none recorded'}\n"
        f"  e.g. {examples}\n"
        f"  {listed}Fix the input, or add "
        f"{h['modality']!r} to datasets.{dataset}.allow_absent in the config to train and "
        "report without it (the tables then say so)."
    )


def gate(
    tokens: TokenSet,
    issues: pd.DataFrame,
    dataset: str,
    allow_absent: list[str],
    settings: dict,
    issues_csv: str = "",
) -> dict:
    """`check_health` of the gathered tokens: {"modalities": per-modality health, "notes"};
    every note is also printed as a warning on the console (stderr) and in the log."""
    health = modality_health(tokens, issues)
    notes = check_health(health, dataset, allow_absent, HealthGate(**settings), issues_csv)
    for note in notes:
        log.warning("%s: %s", dataset, note)
        print(f"WARNING: {dataset}: {note}", file=sys.stderr)
    return {"modalities": health, "notes": notes}
