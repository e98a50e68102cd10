"""Gather the tokenize_shard jobs' outputs, in shard order, into one token set and report.

The config's subsets are checked against the tokens first, so a glob that matches no token
fails here, naming the subset, not in a training job; the modality health gate
(miam.inputs.health) last, before any model is trained. The report's issues are sorted (modality,
reason, sample, path, detail), so that it is the same file whatever the number of shards. When
the gate stops the run, the issues are first written to `stopped_issues_csv` (a file the
workflow keeps when the job fails, unlike its outputs), which the gate's message names.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from miam.core.subsets import SubsetSpec, check_subset
from miam.core.tokens import TokenSet
from miam.inputs.health import ModalityHealthError, gate
from miam.inputs.quality import QualityLog

log = logging.getLogger(__name__)


def gather_shards(
    shard_tokens: list[str | Path],
    shard_issues: list[str | Path],
    tokens_out: str | Path,
    issues_csv: str | Path,
    summary_json: str | Path,
    dataset: str,
    allow_absent: list[str],
    health_gate: dict,
    stopped_issues_csv: str | Path,
    subsets: dict[str, SubsetSpec] | None = None,
    expected_classes: int | None = None,
) -> None:
    """Concatenate the shards' tokens into `tokens_out` and their issues into one report.

    subsets: config key -> subset spec, each checked against the tokens' names.
    expected_classes: the class count the paper had; a different one is logged as a warning.
    dataset, allow_absent, health_gate: the health gate's (`miam.inputs.health.gate`).
    stopped_issues_csv: where the issues go when the gate stops the run.
    """
    # Memory-mapped shards, streamed into one folder a block of rows at a time (never held
    # whole); vector modalities stored in float16 where rounding stays within
    # tokens.FLOAT16_TOLERANCE.
    shards = [TokenSet.load(folder) for folder in shard_tokens]
    tokens = shards[0]  # task, classes and modalities: every shard has the same
    names = {m.name: m.token_names for m in tokens.modalities}
    for name, spec in (subsets or {}).items():
        check_subset(name, spec, names)
    if expected_classes is not None and tokens.n_classes != expected_classes:
        log.warning("%d classes kept; the paper had %d", tokens.n_classes, expected_classes)
    meta = TokenSet.save_concatenated(shards, tokens_out, storage="auto")
    for stored in meta["modalities"]:
        log.info(
            "%s: %s, max error %.2g sd", stored["name"], stored["dtype"], stored["max_error_std"]
        )
    issues = pd.concat(
        [pd.read_csv(path, dtype=str, keep_default_na=False) for path in shard_issues]
    )
    # Each shard's job logged its issues; here they are joined, sorted and counted.
    quality = QualityLog.from_frame(issues.sort_values(list(issues.columns)))
    frame = quality.frame()
    try:
        health = gate(
            TokenSet.load(tokens_out),
            frame,
            dataset,
            allow_absent,
            health_gate,
            issues_csv=str(stopped_issues_csv),
        )
    except ModalityHealthError:
        frame.to_csv(stopped_issues_csv, index=False)
        raise
    quality.write(issues_csv, summary_json, health)
