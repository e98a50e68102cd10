"""Where and how a model runs: device choice, mixed precision, loading a trained `model.pt`.

Training, evaluation, late fusion and contributions all need these; none of them is training,
so they live here and every import runs one way (runtime <- evaluation <- training).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch

from miam.core.data import Normalizer
from miam.core.model import ModalityLayout, ModelConfig, MultimodalTransformer
from miam.runs.checkpoints import read_model


def pick_device(name: str) -> torch.device:
    """ "auto": CUDA when available, else CPU; anything else as torch names it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def job_threads(training: dict, rule_threads: int) -> int:
    """torch threads of a job: `training.threads` when set, else the CPUs a SLURM job was given
    (the slurm profile books them per GPU or per task), else the rule's threads."""
    for configured in (
        training.get("threads"),
        os.environ.get("SLURM_CPUS_PER_GPU"),
        os.environ.get("SLURM_CPUS_PER_TASK"),
    ):
        if configured and int(configured) > 0:
            return int(configured)
    return int(rule_threads)


def autocast(device: torch.device):
    """bf16 autocast on CUDA; full fp32 elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def load_model(path: str | Path, device: torch.device | str = "cpu"):
    """(model, normalizer, checkpoint dict) from a `model.pt` that `train_run` wrote."""
    checkpoint = read_model(path, device)
    layout = [ModalityLayout(**m) for m in checkpoint["layout"]]
    net = MultimodalTransformer(layout, checkpoint["n_outputs"], ModelConfig(**checkpoint["model"]))
    net.load_state_dict(checkpoint["weights"])
    net.to(device).eval()
    return net, Normalizer.from_state_dict(checkpoint["normalizer"]), checkpoint
