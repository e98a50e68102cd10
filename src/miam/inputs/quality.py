"""Data-quality report: every input that became a masked token, or was used but changed,
counted and named.

Readers never crash on one bad file and never skip it silently: they call `QualityLog.record`
with the file and the reason, leave the affected tokens absent (`present=False`), and go on.
Inputs used but changed (`ADJUSTMENTS`: recordings cropped, padded or resampled) are recorded
too, with the seconds concerned; they keep their tokens and are summed up in one warning, on the
console too. The
report is written next to the tokens as CSV (one row per issue) and JSON (counts per modality
and reason, the adjusted inputs with their seconds, and the modality health gate's findings,
`miam.inputs.health`).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from miam.core.console import CONSOLE

log = logging.getLogger(__name__)

# Reasons readers use, so that reports from different datasets can be compared.
REASONS = (
    "missing_file",  # the file the layout promises is not there
    "corrupt_file",  # it is there but cannot be decoded (truncated TIFF, broken WAV, bad pickle)
    "wrong_shape",  # decoded, but not the documented shape
    "wrong_dtype",  # decoded, but its values are not numbers (a complex or boolean raster)
    "nodata",  # pixels the file itself declares as having no data (GeoPlant tiles: -1)
    "nan_values",  # NaN values inside a token (e.g. a missing year)
    "fill_value",  # a fill value standing for "missing": +-inf or |x| > FILL_MAGNITUDE
    "missing_value",  # an empty cell in a table
    "out_of_range",  # coordinates or values outside their valid range
    # A plain table without a final newline: every row is read, but its last value may be cut
    # short (an interrupted copy). Recorded once, against the last row; also on the console.
    "no_final_newline",
    # The input was used, but changed: the token is present. The detail starts with the
    # seconds concerned, which the report sums.
    "cropped",  # a recording longer than the tokens' duration: its end is not seen
    "padded",  # a recording shorter than the duration: zeros added
    "resampled",  # a recording at another sample rate (what lies above the new Nyquist is lost)
)
# Reasons that leave the tokens present (counted, not masked).
ADJUSTMENTS = ("cropped", "padded", "resampled")
# The fill values of GeoPlant's environmental tables (the MaskSDM loader's rule): a number this
# large, or infinite, stands for "no value".
FILL_MAGNITUDE = 1e10


def fill_values(values: np.ndarray) -> np.ndarray:
    """True where a number is a fill value: +-inf, or |x| > FILL_MAGNITUDE (NaN is not)."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.isinf(values) | (np.abs(values) > FILL_MAGNITUDE)


LOGGED_PER_KIND = 20
# The columns of the report's CSV: one row per issue.
COLUMNS = ("modality", "reason", "sample_id", "path", "detail")


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
        said = f": {detail}" if str(detail) else ""
        # Every issue is in the CSV; the log names the first few of each kind, then summarises.
        self.per_kind[modality, reason] += 1
        seen = self.per_kind[modality, reason]
        # Adjusted inputs are summed up in one warning when the report is written.
        quiet = seen > LOGGED_PER_KIND or reason in ADJUSTMENTS
        level = logging.DEBUG if quiet else logging.WARNING
        log.log(level, "%s: sample %s: %s%s%s", modality, sample_id, reason, where, said)
        if seen == LOGGED_PER_KIND and reason not in ADJUSTMENTS:
            log.warning("%s: more %s issues are listed in the report only", modality, reason)

    def adjusted(self, modality: str, sample_id, path) -> Callable[[str, float, str], None]:
        """`report(reason, seconds, detail)`: records an input of `sample_id` used but changed."""

        def report(reason: str, seconds: float, detail: str) -> None:
            self.record(modality, reason, sample_id, path, f"{seconds:.3f} s: {detail}")

        return report

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> QualityLog:
        """The issues of a written report (`frame`'s rows), not logged again: the job that
        found them did."""
        quality = cls()
        quality.rows = frame[list(COLUMNS)].to_dict("records")
        quality.per_kind.update(zip(frame["modality"], frame["reason"], strict=True))
        return quality

    def extend(self, other: QualityLog) -> None:
        self.rows.extend(other.rows)
        self.per_kind.update(other.per_kind)

    def counts(self) -> dict[str, dict[str, int]]:
        per_modality: dict[str, Counter] = {}
        for row in self.rows:
            per_modality.setdefault(row["modality"], Counter())[row["reason"]] += 1
        return {m: dict(sorted(c.items())) for m, c in sorted(per_modality.items())}

    def adjustments(self) -> dict[str, dict[str, dict]]:
        """{modality: {reason: {"count", "seconds"}}} of the inputs used but changed (cropped,
        padded, resampled recordings); the seconds are the number each detail starts with."""
        summary: dict[str, dict[str, dict]] = {}
        for row in self.rows:
            if row["reason"] not in ADJUSTMENTS:
                continue
            entry = summary.setdefault(row["modality"], {}).setdefault(
                row["reason"], {"count": 0, "seconds": 0.0}
            )
            entry["count"] += 1
            entry["seconds"] = round(entry["seconds"] + float(row["detail"].split()[0]), 3)
        return summary

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=list(COLUMNS))

    def write(
        self, csv_path: str | Path, json_path: str | Path, health: dict | None = None
    ) -> None:
        """The CSV of every issue and the JSON summary (with `health`, the modality health gate's
        findings, `miam.inputs.health.gate`, when given)."""
        for modality, counts in self.counts().items():
            log.info("data quality: %s: %s", modality, counts)
        adjusted = self.adjustments()
        if adjusted:
            log.warning(
                "inputs used but changed (count, seconds): %s; each is listed in %s",
                _describe(adjusted),
                csv_path,
                extra={CONSOLE: True},
            )
        self.frame().to_csv(csv_path, index=False)
        summary = {"n_issues": len(self.rows), "counts": self.counts(), "adjusted": adjusted}
        summary.update(health or {})
        Path(json_path).write_text(json.dumps(summary, indent=1))


def _describe(adjusted: dict) -> str:
    return "; ".join(
        f"{modality} {reason} {entry['count']} ({entry['seconds']:g} s)"
        for modality, reasons in adjusted.items()
        for reason, entry in reasons.items()
    )
