"""Every file of a run's folder (`out_dir`, results/{dataset}/{family}/{name}/seed{seed}/): its
name, and how it is written and read.

    model.pt       the kept epoch's weights and what rebuilds the model (`read_model`)
    history.csv    one row per epoch: loss, validation scores, the strategy's state
    metrics.json   the kept epoch, its scores, the run's speed
    checkpoint.pt  what resumes the run after its last saved epoch; removed once every run of
                   the job has finished, unless `training.keep_checkpoints`

The workflow imports `RUN_FILES` each time it parses, on every cluster job too, so torch is
imported only inside the functions that save or load tensors.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

MODEL = "model.pt"
HISTORY = "history.csv"
METRICS = "metrics.json"
CHECKPOINT = "checkpoint.pt"
# What a finished run leaves: the training rules' outputs.
RUN_FILES = (MODEL, HISTORY, METRICS)

# Bumped whenever what a checkpoint holds changes, so an old one is never half-loaded.
CHECKPOINT_FORMAT = 2

# What `load_checkpoint` logs when it continues a run (tests/slurm checks a retried job says it).
RESUMING = "resuming from"


def atomic_save(obj, path: Path) -> None:
    """torch.save to a temporary name, then rename: a kill never leaves half a file."""
    import torch

    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save_checkpoint(out_dir: Path, state: dict) -> None:
    atomic_save(state, Path(out_dir) / CHECKPOINT)


def load_checkpoint(out_dir: Path, run_spec: dict, device) -> dict | None:
    """The checkpoint in `out_dir` if the same run wrote it (same `run_spec`: configuration,
    data, format), else None."""
    import torch

    path = Path(out_dir) / CHECKPOINT
    if not path.exists():
        return None
    checkpoint = torch.load(path, map_location=device, weights_only=True)
    # Through JSON: the spec as a checkpoint stores it (tuples become lists).
    if checkpoint["run_spec"] != json.loads(json.dumps(run_spec)):
        log.info("ignoring %s: it was written for another configuration", path)
        return None
    log.info("%s %s after epoch %d", RESUMING, path, checkpoint["epoch"])
    return checkpoint


def remove_checkpoint(out_dir: Path) -> None:
    (Path(out_dir) / CHECKPOINT).unlink(missing_ok=True)


def write_model(out_dir: Path, model: dict) -> None:
    atomic_save(model, Path(out_dir) / MODEL)


def read_model(path: str | Path, device="cpu") -> dict:
    """A `model.pt` as written by `write_model` (tensors only: loading runs no code)."""
    import torch

    return torch.load(path, map_location=device, weights_only=True)


def write_history(out_dir: Path, history: list[dict]) -> None:
    pd.DataFrame(history).to_csv(Path(out_dir) / HISTORY, index=False)


def write_metrics(out_dir: Path, metrics: dict) -> None:
    (Path(out_dir) / METRICS).write_text(json.dumps(metrics, indent=1))


def read_metrics(out_dir: Path) -> dict | None:
    """A run's metrics.json, or None where there is none."""
    path = Path(out_dir) / METRICS
    return json.loads(path.read_text()) if path.exists() else None
