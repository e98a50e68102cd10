"""Prediction throughput at new sites: sites per second per core, demo and paper model.

    python benchmarks/bench_predict.py [--sites 2048] [--repeats 3] [--write docs/performance.md]

Sites have GeoPlant's real token layout (98 tokens: 42 tabular variables, 40 yearly vectors,
16 Sentinel-2 patches; `bench_model.geoplant_like`) and 32 species. One untrained model of each
size (weights do not change the cost) predicts them as the `predict` target does
(`miam.runs.prediction.predict_sites`, chunks of `CHUNK_SITES`) under the default scenarios:
all inputs and without each modality. One torch thread: the figure is per core. Prints the
median over `--repeats`; with `--write`, replaces the block between PREDICT_BEGIN and
PREDICT_END of that page with the figures, the date and the machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from bench_model import PAPER_MODEL, geoplant_like

from miam.analysis.summary import machine, replace_block
from miam.core.data import Normalizer
from miam.core.model import ModalityLayout, ModelConfig, MultimodalTransformer
from miam.runs.prediction import CHUNK_SITES, predict_sites

DEMO_MODEL = ModelConfig(dim=32, depth=1, heads=1, ffn_dim=64, dropout=0.0, n_frequencies=16)
SPECIES = 32
PREDICT_BEGIN, PREDICT_END = "<!-- predict:begin -->", "<!-- predict:end -->"


def model_file(tokens, config: ModelConfig, path: Path) -> Path:
    """A `model.pt` as training writes it, untrained."""
    layout = [ModalityLayout(m.name, m.kind, m.n_tokens, m.token_dim) for m in tokens.modalities]
    net = MultimodalTransformer(layout, SPECIES, config)
    torch.save(
        {
            "weights": net.state_dict(),
            "normalizer": Normalizer.fit(tokens, np.arange(tokens.n_samples)).state_dict(),
            "layout": [asdict(m) for m in layout],
            "n_outputs": SPECIES,
            "task": tokens.task,
            "model": config.to_dict(),
        },
        path,
    )
    return path


def sites_per_second(tokens, path: Path, scenarios: dict, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        predict_sites({"model": [path]}, tokens, scenarios, device="cpu")
        times.append(time.perf_counter() - start)
    return tokens.n_samples / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=2048, help="sites predicted per timing")
    parser.add_argument("--paper-sites", type=int, default=512, help="the same, paper model")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", type=Path, help="the page whose predict block to replace")
    args = parser.parse_args()
    torch.set_num_threads(1)
    load = os.getloadavg()[0]  # other work on the machine slows every figure alike
    rng = np.random.default_rng(0)
    figures = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, config, n in (
            ("demo", DEMO_MODEL, args.sites),
            ("paper", PAPER_MODEL, args.paper_sites),
        ):
            tokens = geoplant_like(n, rng)
            tokens.class_names = [str(k) for k in range(SPECIES)]
            tokens.targets = np.zeros((n, SPECIES), np.uint8)
            tokens.task = "multilabel"
            scenarios = {"all_inputs": {}} | {
                f"without_{m}": {"drop": [m]} for m in tokens.modality_names
            }
            path = model_file(tokens, config, Path(folder) / f"{name}.pt")
            figures[name] = (
                n,
                len(scenarios),
                sites_per_second(tokens, path, scenarios, args.repeats),
            )
            print(f"{name} model: {figures[name][2]:,.0f} sites/s per core ({n} sites, "
                  f"{len(scenarios)} scenarios)")  # fmt: skip
    if args.write:
        when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines = [
            PREDICT_BEGIN,
            f"Written by `python benchmarks/bench_predict.py --write {args.write}` on {when}, "
            f"{machine()} (load average {load:.1f} at the start); one torch thread, median of "
            f"{args.repeats} timings, GeoPlant's token "
            f"layout (98 tokens), {SPECIES} species, chunks of {CHUNK_SITES} sites; a site counts "
            "once, predicted under every scenario (all inputs, without each of the 3 "
            "modalities).",
            "",
            "| model | sites timed | scenarios | sites per second per core (all scenarios) |",
            "|---|---:|---:|---:|",
            *[f"| {name} | {n:,} | {k} | {rate:,.0f} |" for name, (n, k, rate) in figures.items()],
            PREDICT_END,
        ]
        page = args.write.read_text(encoding="utf-8")
        args.write.write_text(replace_block(page, "\n".join(lines), PREDICT_BEGIN, PREDICT_END))
        print(f"wrote {args.write}")


if __name__ == "__main__":
    main()
