"""Training and all-subset evaluation speed at the paper's model size, against plain baselines.

    python benchmarks/bench_model.py [--threads 1,2] [--repeats 3] [--parts training,evaluation]
                                     [--markdown docs/figures]

Every figure is the median of `--repeats` timings (the ways interleaved, so a load change on a
shared machine hits them alike), printed for each thread count in `--threads`.

Training: samples/s of one MIAM-masked step (embedding, masking, forward, backward, AdamW) of
`MultimodalTransformer` (masked tokens dropped, length buckets, fused attention) versus a plain
`nn.TransformerEncoder` of the same size over all tokens with a mask token, which is how the
predecessor (MaskSDM-MEE) trains.

Evaluation, three ways side by side, on the paper's 12 GeoPlant columns (GeoPlant's real token
layout: 42 tabular variables, 40 yearly vectors of 48, 16 Sentinel-2 patches of 1,024) and on
all 31 subsets of five TaxaBench-like modalities:
  - MaskSDM's way: one full pass per subset over every token, hidden ones replaced by a mask
    token (a plain `nn.TransformerEncoder`), over `--chunk`-row slices;
  - batched: `predict_subsets` as `evaluate_subsets` calls it (each sample embedded once, rows
    of all subsets sorted by visible length, passes of bounded size);
  - loop: one dropped-token pass per subset over `--chunk`-row slices, a plain loop.
Prints the figures and the ratio of encoder FLOPs (all tokens / visible tokens), the speed-up
dropping hidden tokens allows at an equal FLOP rate; asserts nothing about time. With
--markdown FOLDER, the figures of each part also go to a page there with the date and the
machine (paper_model_training.md, paper_model_evaluation.md), which docs/performance.md links.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from miam.core.data import DeviceData, Normalizer
from miam.core.masking import make_strategy, token_visibility
from miam.core.model import ModelConfig, MultimodalTransformer
from miam.core.subsets import modality_subsets
from miam.core.tokens import Modality, TokenSet
from miam.runs.evaluation import predict_subsets
from miam.runs.runtime import autocast

PAPER_MODEL = ModelConfig(dim=192, depth=7, heads=8, ffn_dim=256, dropout=0.1, n_frequencies=48)

GEOPLANT_COLUMNS = {
    "bio1": {"tabular": ["bio1"]},
    "worldclim": {"tabular": ["bio*"]},
    "climate_2018": {"timeseries": ["climate/2018"]},
    "climate_2000_2018": {"timeseries": ["climate/*"]},
    "s2_centre": {"satellite": ["r1c1", "r1c2", "r2c1", "r2c2"]},
    **modality_subsets(["tabular", "timeseries", "satellite"]),
}
TAXABENCH_MODALITIES = ["image", "satellite", "audio", "environment", "location"]


def geoplant_like(n: int, rng) -> TokenSet:
    """GeoPlant's token layout (miam.inputs.tokenize.geoplant): 98 tokens per survey."""
    tabular = (
        [f"bio{i}" for i in range(1, 20)]
        + ["elevation"]
        + [f"landcover/{i}" for i in range(1, 14)]
        + [f"soil/{v}" for v in "bdod cec cfvo clay nitrogen phh2o sand silt soc".split()]
    )
    series = [f"climate/{y}" for y in range(2000, 2019)] + [
        f"landsat/{y}" for y in range(2000, 2021)
    ]
    patches = [f"r{r}c{c}" for r in range(4) for c in range(4)]
    modalities = [
        Modality("tabular", "scalar", rng.normal(size=(n, 42, 1)), np.ones((n, 42), bool), tabular),
        Modality(
            "timeseries", "vector", rng.normal(size=(n, 40, 48)), np.ones((n, 40), bool), series
        ),
        Modality("satellite", "vector", rng.random((n, 16, 1024)), np.ones((n, 16), bool), patches),
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


def synchronize(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def median_times(ways: dict, repeats: int, device, warm_up=None) -> dict[str, float]:
    """Median seconds of each way over `repeats` rounds, the ways interleaved in each round."""
    for fn in (warm_up or ways).values():
        fn()
    times = {name: [] for name in ways}
    for _ in range(repeats):
        for name, fn in ways.items():
            synchronize(device)
            started = time.perf_counter()
            fn()
            synchronize(device)
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(t) for name, t in times.items()}


def bench_training(device, repeats: int, batch: int, buckets: int) -> dict[str, float]:
    """samples/s per way."""
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
    ways = {}
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

        ways[name] = step
    return {name: batch / s for name, s in median_times(ways, repeats, device).items()}


MASKSDM_WAY = "MaskSDM: full pass per subset, mask tokens"


def bench_evaluation(device, n: int, make, subsets: dict, repeats: int, chunk: int):
    """(seconds per way, visible-token ratio, check that the ways agree)."""
    rng = np.random.default_rng(1)
    tokens = make(n, rng)
    data = DeviceData(tokens, Normalizer.fit(tokens, np.arange(n)), device)
    model = MultimodalTransformer(data.layout, 200, PAPER_MODEL).to(device).eval()
    baseline = PlainBaseline(model, PAPER_MODEL).to(device).eval()
    selectors = torch.stack([data.selector(spec) for spec in subsets.values()])
    index = torch.arange(n, device=device)

    def one_pass_per_subset(net, rows):
        @torch.no_grad()
        def run():
            out = []
            with autocast(device):
                for selector in selectors:
                    for start in range(0, rows, chunk):
                        part = index[start : min(start + chunk, rows)]
                        out.append(net(data.batch(part), data.present[part] & selector))
            return out

        return run

    def batched(rows):
        return lambda: predict_subsets(model, data, index[:rows], selectors)  # as evaluate_subsets

    ways = {
        MASKSDM_WAY: one_pass_per_subset(baseline, n),
        "batched predict_subsets": batched(n),
        "loop: dropped-token pass per subset": one_pass_per_subset(model, n),
    }
    warm_up = {
        "MaskSDM": one_pass_per_subset(baseline, 8),
        "batched": batched(8),
        "loop": one_pass_per_subset(model, 8),
    }
    seconds = median_times(ways, repeats, device, warm_up)
    visible = (data.present[None] & selectors[:, None]).sum(dim=2).double()  # (S, N)
    full = encoder_flops(torch.full_like(visible, data.present.shape[1]), PAPER_MODEL)
    dropped = encoder_flops(visible + 1, PAPER_MODEL)  # + the summary token
    return seconds, float(full.sum() / dropped.sum())


def encoder_flops(n_tokens, config: ModelConfig):
    """Forward FLOPs of the blocks for a sequence of `n_tokens`: projections, FFN, attention."""
    d, f = config.dim, config.ffn_dim
    return config.depth * (2 * n_tokens * (4 * d * d + 2 * d * f) + 4 * n_tokens**2 * d)


def evaluation_table(title: str, n_subsets: int, n: int, results: dict, flop_ratio: float):
    """One evaluation's figures as Markdown lines: seconds, sample-subsets per second and the
    gain over MaskSDM's way, per way and thread count."""
    lines = [
        f"## {title}: {n_subsets} subsets x {n} samples",
        "",
        "| threads | way | seconds | sample-subsets/s | gain |",
        "|---:|---|---:|---:|---:|",
    ]
    for threads, seconds in results.items():
        lines += [
            f"| {threads} | {way} | {spent:.1f} | {n_subsets * n / spent:.0f} | "
            f"{seconds[MASKSDM_WAY] / spent:.1f}x |"
            for way, spent in seconds.items()
        ]
    return [
        *lines,
        "",
        f"Encoder FLOPs of MaskSDM's way over those of the visible tokens only: "
        f"{flop_ratio:.2f}x, the speed-up dropping hidden tokens allows at one FLOP rate.",
        "",
    ]


def evaluation_page(evaluations: list[tuple], args) -> str:
    from miam.analysis.summary import measured_page_header

    return "\n".join(
        [
            *measured_page_header(
                "Evaluation at the paper's model size, measured",
                "python benchmarks/bench_model.py --parts evaluation --markdown ...",
            ),
            f"torch {torch.__version__}. The paper's model (d 192, 7 blocks), untrained, "
            "predicting every subset three ways: MaskSDM's (a full pass per subset, hidden "
            "tokens replaced by a mask token), batched (`predict_subsets`, hidden tokens "
            "dropped) and a plain loop of one dropped-token pass per subset; the median of "
            f"{args.repeats} interleaved repeats.",
            "",
            *[line for evaluation in evaluations for line in evaluation_table(*evaluation)],
        ]
    )


def training_table(training: dict) -> list[str]:
    """The training figures as Markdown lines (the console shows the same): samples per second
    and the gain over the plain encoder, per way and thread count."""
    lines = ["| threads | way | samples/s | gain |", "|---:|---|---:|---:|"]
    for threads, rates in training.items():
        base = rates["plain nn.TransformerEncoder, all tokens"]
        lines += [
            f"| {threads} | {name} | {rate:.1f} | {rate / base:.2f}x |"
            for name, rate in rates.items()
        ]
    return lines


def training_page(training: dict, args) -> str:
    """The training figures as a Markdown page with the date and the machine."""
    from miam.analysis.summary import measured_page_header

    lines = [
        *measured_page_header(
            "Training step at the paper's model size, measured",
            "python benchmarks/bench_model.py --parts training --markdown ...",
        ),
        f"torch {torch.__version__}. One MIAM-masked training step of the paper's model "
        f"(d 192, 7 blocks), 98 tokens per sample, batch {args.batch}: samples per second, the "
        f"median of {args.repeats} interleaved repeats, and the gain over a plain "
        "`nn.TransformerEncoder` over all tokens with a mask token (how MaskSDM-MEE trains).",
        "",
        *training_table(training),
    ]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", default="1,2", help="comma-separated CPU thread counts")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", default="training,evaluation")
    parser.add_argument("--batch", type=int, default=256, help="training batch")
    parser.add_argument("--buckets", type=int, default=4)
    parser.add_argument("--eval-samples", type=int, default=512, help="GeoPlant-like samples")
    parser.add_argument("--five-samples", type=int, default=256, help="TaxaBench-like samples")
    parser.add_argument("--chunk", type=int, default=1024, help="rows per pass of the loops")
    parser.add_argument("--markdown", type=Path, help="also write each part's page here")
    args = parser.parse_args()
    device = torch.device(args.device)
    parts = args.parts.split(",")
    thread_counts = [int(t) for t in args.threads.split(",")]
    print(f"torch {torch.__version__}, {device}, threads {thread_counts}, median of {args.repeats}")
    training, geoplant, five = {}, {}, {}
    for threads in thread_counts:
        torch.set_num_threads(threads)
        if "training" in parts:
            training[threads] = bench_training(device, args.repeats, args.batch, args.buckets)
        if "evaluation" in parts:
            geoplant[threads] = bench_evaluation(
                device, args.eval_samples, geoplant_like, GEOPLANT_COLUMNS, args.repeats, args.chunk
            )
            subsets = modality_subsets(TAXABENCH_MODALITIES)
            five[threads] = bench_evaluation(
                device, args.five_samples, taxabench_like, subsets, args.repeats, args.chunk
            )
    pages = {}
    if training:
        print(f"\nTraining step, paper model, 98 tokens/sample, batch {args.batch}, MIAM masking")
        print("\n".join(training_table(training)))
        pages["paper_model_training.md"] = training_page(training, args)
    if geoplant:
        evaluations = [
            (
                "Evaluation, the paper's 12 GeoPlant columns",
                len(GEOPLANT_COLUMNS),
                args.eval_samples,
                {t: r[0] for t, r in geoplant.items()},
                next(iter(geoplant.values()))[1],
            ),
            (
                "Evaluation, all modality combinations of 5",
                2 ** len(TAXABENCH_MODALITIES) - 1,
                args.five_samples,
                {t: r[0] for t, r in five.items()},
                next(iter(five.values()))[1],
            ),
        ]
        for evaluation in evaluations:
            print("\n" + "\n".join(evaluation_table(*evaluation)))
        pages["paper_model_evaluation.md"] = evaluation_page(evaluations, args)
    for name, page in pages.items() if args.markdown else []:
        args.markdown.mkdir(parents=True, exist_ok=True)
        (args.markdown / name).write_text(page)
        print(f"wrote {args.markdown / name}")


if __name__ == "__main__":
    main()
