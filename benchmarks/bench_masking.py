"""Mask sampling throughput (vectors per second) of every strategy against the number of modalities.

    python benchmarks/bench_masking.py                  # CPU, and CUDA when available
    python benchmarks/bench_masking.py --device cuda    # one device only
    python benchmarks/bench_masking.py --markdown docs/figures/masking.md

Each strategy is first brought to a mid-training state (past OPM's warm-up, after a few
validations with an imbalance), so the adaptive ones sample their non-trivial distribution.
With --markdown, the table goes to a page with the date and the machine, which
docs/performance.md links; never typed.
"""

import argparse
import math
import time
from pathlib import Path

import torch

from miam.core.masking import STRATEGIES, make_strategy

MODALITY_COUNTS = (2, 3, 5, 8, 16, 32, 64)


# The parameters a strategy has no default for: a target availability, favoured modalities.
REQUIRED_PARAMETERS = {
    "deployment": lambda n_modalities: {"availability": [0.8] * n_modalities},
    "fixed_imbalance": lambda n_modalities: {"favoured": ["0"]},
}


def mid_training(name: str, n_modalities: int):
    params = REQUIRED_PARAMETERS.get(name, lambda n: {})(n_modalities)
    strategy = make_strategy(name, n_modalities, **params)
    strategy.set_progress(6, 10)
    strong_to_weak = torch.linspace(0.9, 0.5, n_modalities)
    for epoch in range(3):
        # The strong modality is settled; the weaker ones still improve.
        strategy.observe((strong_to_weak + 0.02 * epoch * (0.9 - strong_to_weak)).tolist())
    return strategy


def vectors_per_second(strategy, batch_size: int, device: str, min_seconds: float) -> float:
    """Best of repeated calls, so load from other processes inflates the figure as little as
    possible; repeats for at least `min_seconds` and 3 calls."""
    generator = torch.Generator(device=device).manual_seed(0)
    strategy.sample(batch_size, generator)  # warm-up: allocator, kernels
    fastest, calls, start = math.inf, 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - start < min_seconds:
        call_start = time.perf_counter()
        strategy.sample(batch_size, generator)
        if device == "cuda":
            torch.cuda.synchronize()
        fastest = min(fastest, time.perf_counter() - call_start)
        calls += 1
    return batch_size / fastest


def markdown_page(tables: dict[str, list[list[float]]], args: argparse.Namespace) -> str:
    """The tables (device -> per strategy, vectors/s per modality count) as a measured page."""
    from miam.analysis.summary import measured_page_header

    lines = measured_page_header(
        "Mask sampling, measured", "python benchmarks/bench_masking.py --markdown ..."
    )
    lines += [
        "Million masking-probability vectors drawn per second by each strategy, in batches of "
        f"{args.batch_size:,}, against the number of modalities M; each strategy brought to a "
        "mid-training state first (its adaptive distribution, not its start); the best of "
        f"repeated calls; {args.threads} CPU thread(s), torch {torch.__version__}.",
    ]
    for device, cells in tables.items():
        lines += [
            "",
            f"### {device}",
            "",
            "| strategy | " + " | ".join(f"M = {m}" for m in MODALITY_COUNTS) + " |",
            "|---|" + "---:|" * len(MODALITY_COUNTS),
        ]
        lines += [
            f"| {name} | " + " | ".join(f"{rate / 1e6:.2f}" for rate in rates) + " |"
            for name, rates in zip(STRATEGIES, cells, strict=True)
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], help="default: cpu, and cuda if any")
    parser.add_argument("--batch-size", type=int, default=65536)
    parser.add_argument("--min-seconds", type=float, default=0.15, help="timing per table cell")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads for torch; 1 (default) keeps figures stable on a shared machine",
    )
    parser.add_argument("--markdown", type=Path, help="also write the tables to this page")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    devices = [args.device] if args.device else ["cpu"] + ["cuda"] * torch.cuda.is_available()

    tables = {}
    for device in devices:
        print(
            f"\n{device}: million vectors/s, batch {args.batch_size}, "
            f"{args.threads} CPU thread(s), torch {torch.__version__}"
        )
        print(f"{'strategy':<18}" + "".join(f"{f'M={m}':>9}" for m in MODALITY_COUNTS))
        tables[device] = []
        for name in STRATEGIES:
            cells = [
                vectors_per_second(mid_training(name, m), args.batch_size, device, args.min_seconds)
                for m in MODALITY_COUNTS
            ]
            tables[device].append(cells)
            print(f"{name:<18}" + "".join(f"{rate / 1e6:>9.2f}" for rate in cells))
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown_page(tables, args))
        print(f"wrote {args.markdown}")


if __name__ == "__main__":
    main()
