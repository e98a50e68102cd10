"""Data-quality report: every input that became a masked token, counted and named.

Readers never crash on one bad file and never skip it silently: they call `QualityLog.record`
with the file and the reason, leave the affected tokens absent (`present=False`), and go on.
The report is written next to the tokens as CSV (one row per issue) and JSON (counts per
modality and reason).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

# Reasons readers use, so that reports from different datasets can be compared.
REASONS = (
    "missing_file",  # the file the layout promises is not there
    "corrupt_file",  # it is there but cannot be decoded (truncated TIFF, broken WAV, bad pickle)
    "wrong_shape",  # decoded, but not the documented shape
    "nan_values",  # NaN/inf values inside a token (e.g. a missing year)
    "missing_value",  # an empty cell in a table
    "out_of_range",  # coordinates or values outside their valid range
)


LOGGED_PER_KIND = 20


class QualityLog:
    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.per_kind: Counter = Counter()

    def record(
        self, modality: str, reason: str, sample_id, path: str | Path | None = None, detail=""
    ) -> None:
        assert reason in REASONS, f"unknown data-quality reason {reason!r}; known: {REASONS}"
        self.rows.append(
            {
                "modality": modality,
                "reason": reason,
                "sample_id": str(sample_id),
                "path": "" if path is None else str(path),
                "detail": str(detail),
            }
        )
        where = f" ({path})" if path else ""
        # Every issue is in the CSV; the log names the first few of each kind, then summarises.
        self.per_kind[modality, reason] += 1
        seen = self.per_kind[modality, reason]
        level = logging.WARNING if seen <= LOGGED_PER_KIND else logging.DEBUG
        log.log(level, "%s: sample %s: %s%s %s", modality, sample_id, reason, where, detail)
        if seen == LOGGED_PER_KIND:
            log.warning("%s: more %s issues are listed in the report only", modality, reason)

    def extend(self, other: QualityLog) -> None:
        self.rows.extend(other.rows)
        self.per_kind.update(other.per_kind)

    def counts(self) -> dict[str, dict[str, int]]:
        per_modality: dict[str, Counter] = {}
        for row in self.rows:
            per_modality.setdefault(row["modality"], Counter())[row["reason"]] += 1
        return {m: dict(sorted(c.items())) for m, c in sorted(per_modality.items())}

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            self.rows, columns=["modality", "reason", "sample_id", "path", "detail"]
        )

    def write(self, csv_path: str | Path, json_path: str | Path) -> None:
        for modality, counts in self.counts().items():
            log.info("data quality: %s: %s", modality, counts)
        self.frame().to_csv(csv_path, index=False)
        Path(json_path).write_text(
            json.dumps({"n_issues": len(self.rows), "counts": self.counts()}, indent=1)
        )
