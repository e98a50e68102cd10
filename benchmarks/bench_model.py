"""Training and all-subset evaluation speed at a paper-like size, against plain baselines.

    python benchmarks/bench_model.py [--device cuda] [--steps 6] [--threads 2]

Training: samples/s of one MIAM-masked step (embedding, masking, forward, backward, AdamW) of
`MultimodalTransformer` (masked tokens dropped, length buckets, fused attention) versus a plain
`nn.TransformerEncoder` of the same size over all tokens with a mask token, which is how the
predecessor (MaskSDM-MEE) trains.
Evaluation: the paper's 12 GeoPlant-like subsets and all 31 subsets of five modalities, batched
(`predict_subsets`) versus one full forward pass per subset.
Prints the figures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch
from torch import nn

from miam.data import DeviceData, Normalizer
from miam.evaluation import predict_subsets
from miam.masking import make_strategy, token_visibility
from miam.model import ModelConfig, MultimodalTransformer
from miam.runtime import autocast
from miam.subsets import modality_subsets
from miam.tokens import Modality, TokenSet

PAPER_MODEL = ModelConfig(dim=192, depth=7, heads=8, ffn_dim=256, dropout=0.1, n_frequencies=48)


def geoplant_like(n: int, rng) -> TokenSet:
    """~100 tokens per sample: 30 tabular scalars, 40 yearly vectors, 16 image patches, etc."""
    modalities = [
        Modality(
            "tabular",
            "scalar",
            rng.normal(size=(n, 30, 1)),
            np.ones((n, 30), bool),
            [f"bio{i}" for i in range(1, 20)] + [f"soil{i}" for i in range(11)],
        ),
        Modality(
            "timeseries",
            "vector",
            rng.normal(size=(n, 40, 48)),
            np.ones((n, 40), bool),
            [f"climate/{y}" for y in range(2000, 2019)]
            + [f"landsat/{y}" for y in range(2000, 2021)],
        ),
        Modality(
            "satellite",
            "vector",
            rng.normal(size=(n, 16, 256)),
            np.ones((n, 16), bool),
            [f"r{r}c{c}" for r in range(4) for c in range(4)],
        ),
    ]
    return toy(modalities, n, rng)


def taxabench_like(n: int, rng) -> TokenSet:
    shapes = [
        ("image", 36, 192),
        ("satellite", 16, 256),
        ("audio", 32, 64),
        ("environment", 20, 1),
        ("location", 1, 16),
    ]
    modalities = [
        Modality(
            name,
            "scalar" if d == 1 else "vector",
            rng.normal(size=(n, t, d)),
            np.ones((n, t), bool),
            [f"{name}{i}" for i in range(t)],
        )
        for name, t, d in shapes
    ]
    return toy(modalities, n, rng)


def toy(modalities, n, rng) -> TokenSet:
    return TokenSet(
        "multilabel",
        modalities,
        (rng.random((n, 200)) < 0.05).astype(np.uint8),
        pd.DataFrame({"sample_id": np.arange(n).astype(str), "lon": 0.0, "lat": 0.0}),
        [str(c) for c in range(200)],
    )


class PlainBaseline(nn.Module):
    """Predecessor-style: every token in the sequence, masked ones replaced by a mask token."""

    def __init__(self, model: MultimodalTransformer, config: ModelConfig):
        super().__init__()
        self.embedder = model
        self.mask_token = nn.Parameter(torch.zeros(config.dim))
        layer = nn.TransformerEncoderLayer(
            config.dim,
            config.heads,
            config.ffn_dim,
            config.dropout,
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, config.depth, enable_nested_tensor=False)
        self.head = nn.Linear(config.dim, model.head[-1].out_features)

    def forward(self, values, visible):
        tokens = self.embedder.embed(values)
        tokens = torch.where(visible[..., None], tokens, self.mask_token)
        return self.head(self.encoder(tokens).mean(dim=1))


def time_it(fn, steps: int, device) -> float:
    fn()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / steps


def bench_training(device, steps: int, batch: int, buckets: int):
    rng = np.random.default_rng(0)
    tokens = geoplant_like(batch, rng)
    data = DeviceData(tokens, Normalizer.fit(tokens, np.arange(batch)), device)
    model = MultimodalTransformer(data.layout, 200, PAPER_MODEL).to(device)
    baseline = PlainBaseline(model, PAPER_MODEL).to(device)
    strategy = make_strategy("miam", 3)
    strategy.observe([0.7, 0.9, 0.6])
    strategy.observe([0.72, 0.9, 0.62])
    generator = torch.Generator(device=device).manual_seed(0)
    index = torch.arange(batch, device=device)
    results = {}
    for name, net, step_buckets in [
        ("plain nn.TransformerEncoder, all tokens", baseline, None),
        ("MIAM model, masked tokens dropped", model, 1),
        (f"MIAM model, dropped + {buckets} length buckets", model, buckets),
    ]:
        optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4)

        def step(net=net, step_buckets=step_buckets, optimizer=optimizer):
            p = strategy.sample(batch, generator)
            visible = token_visibility(p, data.tokens_per_modality, data.present, generator)
            with autocast(device):
                logits = (
                    net(data.batch(index), visible)
                    if step_buckets is None
                    else net(data.batch(index), visible, step_buckets)
                )
            loss = nn.functional.binary_cross_entropy_with_logits(logits.float(), data.targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        results[name] = batch / time_it(step, steps, device)
    base = results["plain nn.TransformerEncoder, all tokens"]
    print(f"\nTraining, d=192, 7 blocks, 86 tokens/sample, batch {batch}, MIAM masking, {device}")
    for name, rate in results.items():
        print(f"  {name:48s} {rate:9.0f} samples/s  {rate / base:5.2f}x")
    if device.type == "cuda":
        print(f"  peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


def bench_evaluation(device, n: int, make, subsets: dict, label: str, repeats: int):
    rng = np.random.default_rng(1)
    tokens = make(n, rng)
    data = DeviceData(tokens, Normalizer.fit(tokens, np.arange(n)), device)
    model = MultimodalTransformer(data.layout, 200, PAPER_MODEL).to(device).eval()
    baseline = PlainBaseline(model, PAPER_MODEL).to(device).eval()
    selectors = torch.stack([data.selector(spec) for spec in subsets.values()])
    index = torch.arange(n, device=device)

    def one_pass_per_subset(net):
        @torch.no_grad()
        def run():
            with autocast(device):
                for selector in selectors:
                    for start in range(0, n, 512):
                        part = index[start : start + 512]
                        net(data.batch(part), data.present[part] & selector)

        return run

    def batched():
        predict_subsets(model, data, index, selectors, batch_size=1024, sample_chunk=512)

    timings = {
        "full pass per subset (plain encoder, all tokens)": time_it(
            one_pass_per_subset(baseline), repeats, device
        ),
        "pass per subset, hidden tokens dropped": time_it(
            one_pass_per_subset(model), repeats, device
        ),
        "batched (predict_subsets)": time_it(batched, repeats, device),
    }
    base = timings["full pass per subset (plain encoder, all tokens)"]
    print(f"\nEvaluation on {len(subsets)} subsets ({label}), {n} samples, {device}")
    for name, seconds in timings.items():
        rate = len(subsets) * n / seconds
        print(f"  {name:50s} {rate:8.0f} sample-subsets/s  {base / seconds:5.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--buckets", type=int, default=4)
    parser.add_argument("--eval-samples", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    bench_training(device, args.steps, args.batch, args.buckets)
    geoplant_columns = {
        "bio1": {"tabular": ["bio1"]},
        "worldclim": {"tabular": ["bio*"]},
        "climate_2018": {"timeseries": ["climate/2018"]},
        "climate": {"timeseries": ["climate/*"]},
        "s2_centre": {"satellite": ["r1c1", "r1c2", "r2c1", "r2c2"]},
        **modality_subsets(["tabular", "timeseries", "satellite"]),
    }
    bench_evaluation(
        device,
        args.eval_samples,
        geoplant_like,
        geoplant_columns,
        "the paper's 12 GeoPlant columns",
        2,
    )
    five = modality_subsets(["image", "satellite", "audio", "environment", "location"])
    bench_evaluation(
        device, args.eval_samples, taxabench_like, five, "all modality combinations of 5", 1
    )


if __name__ == "__main__":
    main()
