"""The data-quality record as a section of a dataset's summary page (and so of the report).

The record (`miam.inputs.quality`: `quality/summary.json` and `quality/issues.csv`) is JSON and
CSV; this renders what a reader needs from it in Markdown (`tables.markdown_html` turns it into
the page's HTML): each modality's presence and rejected share (the health gate's), the issues
counted per modality and reason with what they did to the tokens and one example each (sample,
file, detail), and the gate's notes.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from miam.analysis.summary import quality_text
from miam.inputs.quality import ADJUSTMENTS

DETAIL_CHARACTERS = 200


def effect(reason: str) -> str:
    """What an issue of `reason` did to the tokens."""
    if reason in ADJUSTMENTS:
        return "used, changed"
    if reason == "no_final_newline":
        return "read; last value may be cut"
    return "token absent"


def quality_markdown(summary: dict, issues: pd.DataFrame) -> str:
    """The section: a sentence (`summary.quality_text`), the per-modality health, the issues
    per modality and reason with an example each, and the notes."""
    blocks = ["**The data-quality record**", quality_text(summary)]
    health = summary.get("modalities", [])
    if health:
        rows = [
            "| modality | present in (samples) | rejected (of the files there) |",
            "|---|---:|---:|",
        ]
        rows += [f"| {h['modality']} | {h['presence']:.0%} | {h['rejected']:.0%} |" for h in health]
        blocks.append("\n".join(rows))
    if len(issues):
        rows = ["| modality | reason | count | effect | example |", "|---|---|---:|---|---|"]
        for (modality, reason), group in issues.groupby(["modality", "reason"], sort=True):
            rows.append(
                f"| {modality} | `{reason}` | {len(group)} | {effect(reason)} | "
                f"{_example(group.iloc[0])} |"
            )
        blocks.append("\n".join(rows))
        blocks.append("Every issue, with its file: `quality/issues.csv`.")
    notes = summary.get("notes", [])
    if notes:
        blocks.append("\n".join(f"- {note}" for note in notes))
    return "\n\n".join(blocks)


def _example(issue: pd.Series) -> str:
    """sample, file name and detail of one issue, as one table cell."""
    parts = [f"sample {issue['sample_id']}"]
    if issue["path"]:
        parts.append(f"`{Path(issue['path']).name}`")
    detail = str(issue["detail"])
    if detail:
        cut = detail if len(detail) <= DETAIL_CHARACTERS else detail[:DETAIL_CHARACTERS] + "..."
        parts.append(cut)
    return ": ".join(parts).replace("|", "/")
