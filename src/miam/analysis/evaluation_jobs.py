"""One evaluation job: every model of a dataset and seed, and its late fusion, in one process.

The tokens are loaded once for all models (`miam.runs.evaluation.evaluate_runs`); the late-fusion
combiner is cross-fitted and both late-fusion rows evaluated from the same unimodal models.
Each model's tidy rows go to its own CSV, keyed by dataset, model (table row) and seed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from miam.analysis.late_fusion import evaluate_late_fusion, train_combiner_run
from miam.runs.evaluation import evaluate_runs

log = logging.getLogger(__name__)


def write_rows(frame: pd.DataFrame, dataset: str, row: str, seed: int, path: str | Path) -> None:
    frame.insert(0, "dataset", dataset)
    frame.insert(1, "model", row)
    frame.insert(2, "seed", seed)
    frame.to_csv(path, index=False)


def evaluate_seed(
    dataset: str,
    seed: int,
    tokens: str | Path,
    split: str | Path,
    models: list[dict],
    late_fusion: dict | None = None,
    batch_size: int = 4096,
    device: str = "auto",
) -> None:
    """Evaluate `models` and late fusion of one dataset and seed; write one CSV per row.

    models: {"model": model.pt, "row": table row name, "subsets": name -> (family, spec),
        "output": CSV path} each.
    late_fusion: {"models": unimodal model.pt per modality, "subsets": ..., "combiner": path,
        "late_fusion": CSV path, "late_fusion_learned": CSV path}; None: no late fusion.
    """
    frames = evaluate_runs(
        {str(m["output"]): (m["model"], m["subsets"]) for m in models},
        tokens,
        split,
        batch_size=batch_size,
        device=device,
    )
    for entry in models:
        write_rows(frames[str(entry["output"])], dataset, entry["row"], seed, entry["output"])
        log.info("%s evaluated on %d subsets", entry["model"], len(entry["subsets"]))
    if late_fusion is None:
        return
    summary = train_combiner_run(
        late_fusion["models"], tokens, split, late_fusion["combiner"], seed, batch_size, device
    )
    log.info("late-fusion combiner fitted: %s", summary)
    rows = evaluate_late_fusion(
        late_fusion["models"],
        tokens,
        split,
        late_fusion["subsets"],
        late_fusion["combiner"],
        batch_size=batch_size,
        device=device,
    )
    for row, frame in rows.items():
        write_rows(frame, dataset, row, seed, late_fusion[row])
