"""The paper model on a CUDA GPU in bf16: training samples/s, evaluation speed, peak device
memory and minutes per 50-epoch run, measured on the GPU it runs on.

    python benchmarks/bench_gpu.py [--steps 60] [--batch 256] [--epochs 50]

For each embedded benchmark at paper scale (GeoPlant: 90,000 surveys, 98 tokens; TaxaBench-8k:
9,000 observations, 105 tokens), with its real token layout and random values (speed does not
depend on them): training steps as `miam.runs.training` takes them (MIAM masking, length buckets,
weighted BCE, gradient clipping, AdamW, bf16 autocast), then the per-epoch validation (all
inputs, the dataset's named subsets and the unimodal scores) through `predict_subsets`. Minutes
per run = epochs x (training samples / training rate + validation rows / evaluation rate): from
the rates measured here, without data loading (the tokens sit on the GPU, as in training).
Without CUDA it says so and exits 0 (`--device cpu` runs the same code on the CPU, slowly: a
check of the script, not a figure).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_model import GEOPLANT_COLUMNS, PAPER_MODEL, TAXABENCH_MODALITIES, geoplant_like

from miam.core.data import DeviceData, Normalizer
from miam.core.subsets import modality_subsets
from miam.core.tokens import Modality, TokenSet
from miam.runs.evaluation import predict_subsets
from miam.runs.training import PreparedData, TrainConfig, prepare_run, train_step


def taxabench_paper_layout(n: int, rng) -> TokenSet:
    """miam.inputs.tokenize.taxabench's layout: image 16 x 768, satellite 16 x 1024 (3 bands in the
    paper config: 768), audio 16 x 184, environment 20 scalars, location 1 x 24."""
    shapes = [
        ("image", "vector", 16, 768),
        ("satellite", "vector", 16, 768),
        ("audio", "vector", 16, 184),
        ("environment", "scalar", 20, 1),
        ("location", "vector", 1, 24),
    ]
    modalities = [
        Modality(
            name,
            kind,
            rng.random((n, t, d), dtype=np.float32),
            np.ones((n, t), bool),
            [f"{name}{i}" for i in range(t)],
        )
        for name, kind, t, d in shapes
    ]
    return TokenSet(
        "multiclass",
        modalities,
        rng.integers(100, size=n),
        pd.DataFrame({"sample_id": np.arange(n).astype(str)}),
        [str(c) for c in range(100)],
    )


# name: (token set maker, samples at paper scale, train share, val share, named subsets)
DATASETS = {
    "geoplant": (geoplant_like, 90_000, 0.7, 0.15, GEOPLANT_COLUMNS),
    "taxabench": (
        taxabench_paper_layout,
        9_000,
        0.7,
        0.15,
        modality_subsets(TAXABENCH_MODALITIES),
    ),
}


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench(name: str, device, steps: int, batch: int, epochs: int, eval_rows: int) -> dict:
    make, n_samples, train_share, val_share, named = DATASETS[name]
    rng = np.random.default_rng(0)
    n = max(batch * 4, eval_rows)
    tokens = make(n, rng)
    normalizer = Normalizer.fit(tokens, np.arange(n))
    data = DeviceData(tokens, normalizer, device)
    every = np.arange(n)
    prepared = PreparedData(
        tokens=tokens,
        index={"train": every, "val": every},
        normalizer=normalizer,
        data=data,
        fingerprint="bench_gpu",
        classes=None,
        device=device,
    )
    # The paper's training settings (TrainConfig's defaults: AdamW lr 1e-3, weight decay 0.01,
    # clipping at 1, 4 length buckets) with MIAM as config/paper.yaml has it.
    run = prepare_run(
        TrainConfig(batch_size=batch),
        0,
        {"kind": "miam", "kappa": 10.0, "lam": 1.0},
        None,
        PAPER_MODEL.to_dict(),
        None,
        prepared,
    )
    run.masking.observe([0.7] * len(data.layout))
    net = run.net
    generator = torch.Generator(device=device).manual_seed(0)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def step():
        index = torch.randint(n, (batch,), device=device, generator=generator)
        train_step(run, index, generator, run.config.lr)

    for _ in range(min(5, steps)):  # warm-up: kernels chosen, memory pools filled
        step()
    synchronize(device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    train_rate = steps * batch / (time.perf_counter() - started)

    subsets = {"all": {m.name: "all" for m in data.layout}} | named
    subsets |= {m.name: {m.name: "all"} for m in data.layout}
    selectors = torch.stack([data.selector(spec) for spec in subsets.values()])
    index = torch.arange(eval_rows, device=device)
    predict_subsets(net, data, index[:256], selectors)
    synchronize(device)
    started = time.perf_counter()
    predict_subsets(net, data, index, selectors)
    synchronize(device)
    eval_rate = eval_rows * len(selectors) / (time.perf_counter() - started)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None

    n_train, n_val = n_samples * train_share, n_samples * val_share
    epoch_seconds = n_train / train_rate + n_val * len(selectors) / eval_rate
    per_sample = sum(m.n_tokens * m.token_dim * 4 for m in data.layout)
    return {
        "dataset": name,
        "all tokens GiB": per_sample * n_samples / 2**30,
        "train samples/s": train_rate,
        "eval sample-subsets/s": eval_rate,
        "subsets per epoch": len(selectors),
        "peak GiB": peak,
        "minutes per run": epochs * epoch_seconds / 60,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--datasets", default="geoplant,taxabench")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--eval-rows", type=int, default=4096, help="samples evaluated")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("bench_gpu.py needs CUDA (no CUDA device here); nothing measured.")
        return
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (fp32)"
    print(f"torch {torch.__version__} on {name}; paper model, bf16 autocast on CUDA")
    print(f"batch {args.batch}, {args.steps} timed steps, {args.epochs} epochs per run")
    for dataset in args.datasets.split(","):
        r = bench(dataset, device, args.steps, args.batch, args.epochs, args.eval_rows)
        peak = "n/a" if r["peak GiB"] is None else f"{r['peak GiB']:.2f} GiB"
        print(
            f"  {dataset:10s} training {r['train samples/s']:8.0f} samples/s | "
            f"evaluation {r['eval sample-subsets/s']:8.0f} sample-subsets/s "
            f"({r['subsets per epoch']} subsets per epoch) | peak {peak} | "
            f"{r['minutes per run']:.1f} min per {args.epochs}-epoch run (from these rates)"
        )
        print(
            f"  {'':10s} peak memory with {args.eval_rows} samples on the device; all "
            f"{DATASETS[dataset][1]:,} samples' tokens add {r['all tokens GiB']:.1f} GiB "
            "in float32 (float16-stored modalities: half)"
        )


if __name__ == "__main__":
    main()
