"""How close a demo-size training run comes to this CPU's matmul rate.

    python benchmarks/bench_small_runs.py [--configfile config/config.yaml] [--threads 1 2]
                                          [--repeats 3] [--markdown docs/figures/small_runs.md]

For one `uniform` run (seed 0) of each dataset of the config (the default config: both
embedded benchmarks at demo size, its model and training settings), in this one process:
- the run's FLOPs, counted by torch's FLOP counter (`torch.utils.flop_counter`);
- the run's wall time, the best of `--repeats` (its data prepared once, as a training job does;
  the preparation's seconds apart), and the achieved GFLOP/s;
- this CPU's float32 matmul rate at the run's own shapes: the matmuls the run calls (mm,
  addmm, bmm; the shapes of 95 % of their FLOPs), timed alone shape by shape, their FLOPs over
  the summed time of their calls;
- the ratio of the two: the share of the machine's matmul rate the run achieves. It is the
  figure that holds on a loaded machine, both rates being measured moments apart.
Per thread count of `--threads`. With the default run's results present (benchmarks/
bench_default_run.py), also its training stage in job-seconds. With --markdown, the figures go
to a page with the date and the machine, which docs/performance.md links; never typed.
Needs the datasets' tokens and split (`snakemake --cores 2 results/<dataset>/split.csv`).
Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch
import yaml
from bench_default_run import stage_table
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from miam.runs.training import prepare_data, train_run
from miam.workflow import pipeline

ROOT = Path(__file__).resolve().parents[1]
MATMULS = {
    torch.ops.aten.mm.default: "mm",
    torch.ops.aten.addmm.default: "addmm",
    torch.ops.aten.bmm.default: "bmm",
}


class MatmulShapes(TorchDispatchMode):
    """Counts the float32 matmuls a computation calls, by op and operand shapes."""

    def __init__(self):
        super().__init__()
        self.calls: Counter = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in MATMULS and args[-1].dtype == torch.float32:
            operands = args[-2:]  # addmm's bias is not a matmul operand
            self.calls[(MATMULS[func], *(tuple(a.shape) for a in operands))] += 1
        return func(*args, **(kwargs or {}))


def matmul_flops(shapes: tuple) -> int:
    _, a, b = shapes
    batch = a[0] if len(a) == 3 else 1
    return 2 * batch * a[-2] * a[-1] * b[-1]


def matmul_rate(calls: Counter, share: float = 0.95, min_seconds: float = 0.01) -> float:
    """GFLOP/s of this CPU's float32 matmuls at the shapes and counts of `calls`: the shapes
    that make up `share` of their FLOPs, largest first (a run calls hundreds of small ones)."""
    by_flops = sorted(calls.items(), key=lambda item: -matmul_flops(item[0]) * item[1])
    total = sum(matmul_flops(shapes) * count for shapes, count in by_flops)
    flops = seconds = 0.0
    for shapes, count in by_flops:
        if flops >= share * total:
            break
        kind, a_shape, b_shape = shapes
        a, b = torch.randn(a_shape), torch.randn(b_shape)
        call = {
            "mm": lambda a=a, b=b: torch.mm(a, b),
            "addmm": lambda a=a, b=b: torch.addmm(torch.zeros(b.shape[-1]), a, b),
            "bmm": lambda a=a, b=b: torch.bmm(a, b),
        }[kind]
        call()
        repeats, elapsed = 1, 0.0
        while elapsed < min_seconds:  # long enough to time; the best of two such spans
            spans = []
            for _ in range(2):
                started = time.perf_counter()
                for _ in range(repeats):
                    call()
                spans.append(time.perf_counter() - started)
            elapsed = min(spans)
            repeats *= 4 if elapsed < min_seconds else 1
        flops += matmul_flops(shapes) * count
        seconds += elapsed / repeats * count
    return flops / seconds / 1e9


def one_run(config: dict, dataset: str, prepared, threads: int) -> None:
    folder = ROOT / "results" / dataset
    with tempfile.TemporaryDirectory() as out:
        train_run(
            folder / "tokens",
            folder / "split.csv",
            out,
            seed=0,
            strategy=pipeline.strategy_spec(config, dataset, "uniform"),
            model=pipeline.run_settings(config, dataset, "model"),
            training=pipeline.run_settings(config, dataset, "training") | {"threads": threads},
            selection_subsets=pipeline.named_subsets(config["datasets"][dataset]),
            prepared=prepared,
        )


def measure(config: dict, dataset: str, threads: int, repeats: int) -> dict:
    torch.set_num_threads(threads)
    folder = ROOT / "results" / dataset
    started = time.perf_counter()
    prepared = prepare_data(folder / "tokens", folder / "split.csv", torch.device("cpu"))
    preparation = time.perf_counter() - started
    shapes = MatmulShapes()
    with FlopCounterMode(display=False) as counter, shapes:
        one_run(config, dataset, prepared, threads)
    flops = counter.get_total_flops()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        one_run(config, dataset, prepared, threads)
        seconds.append(time.perf_counter() - started)
    wall = min(seconds)
    achieved = flops / wall / 1e9
    machine_rate = matmul_rate(shapes.calls)
    return {
        "dataset": dataset,
        "threads": threads,
        "GFLOP": flops / 1e9,
        "run s": wall,
        "GFLOP/s": achieved,
        "matmul GFLOP/s": machine_rate,
        "ratio": achieved / machine_rate,
        "data preparation s": preparation,
    }


def markdown_page(rows: list[dict], training: str | None) -> str:
    from miam.analysis.summary import machine

    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    header = list(rows[0])
    lines = [
        "# Small runs, measured",
        "",
        f"Written by `python benchmarks/bench_small_runs.py --markdown ...` on {when}, "
        f"{machine()}; do not edit by hand.",
        "",
        "One `uniform` run (seed 0) of each dataset, the default config's model and training; "
        "run seconds the best of the repeats, its data prepared once before; ratio: achieved "
        "GFLOP/s over this CPU's float32 matmul GFLOP/s at the run's own matmul shapes.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if key == "dataset" else "---:" for key in header) + "|",
        *[
            "| "
            + " | ".join(
                f"{value:.2f}" if isinstance(value, float) else str(value) for value in row.values()
            )
            + " |"
            for row in rows
        ],
    ]
    if training:
        lines += ["", training]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default="config/config.yaml")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--markdown", type=Path, help="also write the figures to this page")
    args = parser.parse_args()
    config = yaml.safe_load((ROOT / args.configfile).read_text())
    datasets = list(config["datasets"])
    rows = []
    for threads in args.threads:
        for dataset in datasets:
            rows.append(measure(config, dataset, threads, args.repeats))
            print(
                "  ".join(
                    f"{key} {value:.2f}" if isinstance(value, float) else f"{key} {value}"
                    for key, value in rows[-1].items()
                ),
                flush=True,
            )
    training = None
    if all((ROOT / "results" / d / "benchmarks" / "train").exists() for d in datasets):
        train = stage_table(datasets).loc["train"]
        training = (
            f"The default run's training stage (its last run, benchmarks/bench_default_run.py): "
            f"{train.jobs:.0f} jobs, {train.wall_s:.0f} job-seconds, {train.cpu_s:.0f} CPU "
            f"seconds."
        )
        print(training)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown_page(rows, training))
        print(f"wrote {args.markdown}")


if __name__ == "__main__":
    main()
