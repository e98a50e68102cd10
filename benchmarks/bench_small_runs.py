"""How close a demo-size training run comes to this CPU's matmul rate.

    python benchmarks/bench_small_runs.py [--configfile config/config.yaml] [--threads 1 2]
                                          [--repeats 3] [--candidates [--pairs 6]]
                                          [--markdown docs/figures/small_runs.md]

For one `uniform` run (seed 0) of each dataset of the config (the default config: both
embedded benchmarks at demo size, its model and training settings), in this one process:
- the run's FLOPs, counted by torch's FLOP counter (`torch.utils.flop_counter`), plus those
  of the CPU's fused attention, which it counts as 0;
- the run's wall time, the best of `--repeats` (its data prepared once, as a training job does;
  the preparation's seconds apart), and the achieved GFLOP/s;
- this CPU's float32 matmul rate at the run's own shapes: the matmuls the run calls (mm,
  addmm, bmm; the shapes of 95 % of their FLOPs), timed alone shape by shape, their FLOPs over
  the summed time of their calls;
- the ratio of the two: the share of the machine's matmul rate the run achieves. It is the
  figure that holds on a loaded machine, both rates being measured moments apart. Also the
  ratio with the attention left out of both FLOPs and shapes, as the FLOP counter alone has it.
And, as bounds on the candidate speed-ups: the share of the run spent validating after its
epochs (what cheaper validation scoring could save at most); 8 training steps over one step of
8 times the batch ("lockstep x8 bound": what training 8 runs of a job in lockstep as one batched
model would gain at most); and the share of a training step that does not grow with the batch
(a step of 2 samples over one of the config's batch: op dispatch, Python and autograd
bookkeeping, the most that fewer ops, lockstep training or compiled graphs could remove); and
the shares of the run's op time (torch.profiler) in matmuls, in fused attention and in every
other op, with the gain if every other op were free (what fusing them could win at most). Per
thread count of `--threads`. With --candidates, each candidate change measured on the same
runs (1 thread): the other length-bucket counts, PyTorch's unfused attention, bfloat16
autocast on the CPU, compiled encoder blocks (`torch.compile`; the first run holds the
compilation) and unpadded token layers (every per-token layer on the visible tokens packed
without padding, attention alone padded, in the config's or 4 length buckets), in `--pairs`
pairs of runs beside the code as it is: run seconds, gain and the median gain of the pairs.
With the default run's results
present (benchmarks/bench_default_run.py), also its training stage in job-seconds. With
--markdown, the figures go to a page with the date and the machine, which docs/performance.md
links; never typed.
Needs the datasets' tokens and split (`snakemake --cores 2 results/<dataset>/split.csv`).
Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import math
import statistics
import time
from collections import Counter
from functools import cache, partial
from pathlib import Path

import torch
import yaml
from bench_default_run import prepared_data, stage_table, uniform_run
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.profiler import ProfilerActivity, profile
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from miam.core.model import Block, MultimodalTransformer
from miam.core.optim import AdamW
from miam.runs import evaluation, training
from miam.runs.training import TrainConfig, prepare_run
from miam.workflow import pipeline

ROOT = Path(__file__).resolve().parents[1]
MATMULS = {
    torch.ops.aten.mm.default: "mm",
    torch.ops.aten.addmm.default: "addmm",
    torch.ops.aten.bmm.default: "bmm",
}


# The CPU's fused attention kernels, which torch's FLOP counter counts as 0 (torch 2.13): their
# FLOPs and shapes are those of the batched matmuls they do, as the counter's formulas for the
# other attention kernels have them (the backward recomputes the scores).
ATTENTION = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu.default
ATTENTION_BACKWARD = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward.default
ATTENTION_OPS = (ATTENTION, ATTENTION_BACKWARD)


def attention_matmuls(query: tuple, key: tuple, backward: bool) -> list[tuple]:
    """("attention", a, b): the batched products a fused attention call over these shapes
    does, timed as bmm."""
    batch, heads, length_q, dim = query
    length_k = key[2]
    batch_heads = batch * heads
    # q k^T (and dO v^T); P v (and dS k); P^T dO (and dS^T q)
    scores = ("attention", (batch_heads, length_q, dim), (batch_heads, dim, length_k))
    weighted = ("attention", (batch_heads, length_q, length_k), (batch_heads, length_k, dim))
    transposed = ("attention", (batch_heads, length_k, length_q), (batch_heads, length_q, dim))
    return [scores, scores, transposed, weighted, transposed] if backward else [scores, weighted]


class MatmulShapes(TorchDispatchMode):
    """Counts the float32 matmuls a computation calls, by op and operand shapes, fused
    attention as its batched matmuls; `attention_flops`: those the FLOP counter misses."""

    def __init__(self):
        super().__init__()
        self.calls: Counter = Counter()
        self.attention_flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in MATMULS and args[-1].dtype == torch.float32:
            operands = args[-2:]  # addmm's bias is not a matmul operand
            self.calls[(MATMULS[func], *(tuple(a.shape) for a in operands))] += 1
        elif func in ATTENTION_OPS:
            query, key = args[:2] if func is ATTENTION else args[1:3]
            for shapes in attention_matmuls(
                tuple(query.shape), tuple(key.shape), func is ATTENTION_BACKWARD
            ):
                self.calls[shapes] += 1
                self.attention_flops += matmul_flops(shapes)
        return func(*args, **(kwargs or {}))


def matmul_flops(shapes: tuple) -> int:
    _, a, b = shapes
    batch = a[0] if len(a) == 3 else 1
    return 2 * batch * a[-2] * a[-1] * b[-1]


def matmul_seconds(shapes: tuple, min_seconds: float = 0.01) -> float:
    """Seconds of one float32 matmul of these shapes on this CPU, alone, warm."""
    kind, a_shape, b_shape = shapes
    a, b = torch.randn(a_shape), torch.randn(b_shape)
    operands = (torch.zeros(b_shape[-1]), a, b) if kind == "addmm" else (a, b)
    call = partial({"addmm": torch.addmm, "mm": torch.mm}.get(kind, torch.bmm), *operands)
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
    return elapsed / repeats


def matmul_rate(calls: dict, timings: dict, share: float = 0.95) -> float:
    """GFLOP/s of this CPU's float32 matmuls at the shapes and counts of `calls`: the shapes
    that make up `share` of their FLOPs, largest first (a run calls hundreds of small ones).
    `timings` caches seconds per shape between calls."""
    by_flops = sorted(calls.items(), key=lambda item: -matmul_flops(item[0]) * item[1])
    total = sum(matmul_flops(shapes) * count for shapes, count in by_flops)
    flops = seconds = 0.0
    for shapes, count in by_flops:
        if flops >= share * total:
            break
        if shapes not in timings:
            timings[shapes] = matmul_seconds(shapes)
        flops += matmul_flops(shapes) * count
        seconds += timings[shapes] * count
    return flops / seconds / 1e9


def uniform_step(config: dict, dataset: str, prepared):
    """One training step of a `uniform` run (training.train_step: masking, forward, backward,
    clipping, AdamW) on the samples it is given; and the run's training samples and batch size."""
    settings = pipeline.run_settings(config, dataset, "training")
    run = prepare_run(
        TrainConfig.from_dict(settings),
        0,
        pipeline.strategy_spec(config, dataset, "uniform"),
        None,
        pipeline.run_settings(config, dataset, "model"),
        None,
        prepared,
    )
    masks = torch.Generator().manual_seed(0)
    return (
        partial(training.train_step, run, mask_generator=masks, lr=run.config.lr),
        run.train_index,
        run.config.batch_size,
    )


def lockstep_gain(config: dict, dataset: str, prepared, runs: int = 8, repeats: int = 3) -> float:
    """Seconds of `runs` training steps (the config's batch) over those of one step of `runs`
    times the batch, the best of `repeats`: at most what training that many runs in lockstep as
    one batched model would gain."""
    step, train_index, size = uniform_step(config, dataset, prepared)
    order = train_index.repeat(runs)
    step(order[: size * runs])
    apart = together = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        for k in range(runs):
            step(order[k * size : (k + 1) * size])
        apart = min(apart, time.perf_counter() - started)
        started = time.perf_counter()
        step(order[: size * runs])
        together = min(together, time.perf_counter() - started)
    return apart / together


def fixed_step_share(config: dict, dataset: str, prepared, steps: int = 50) -> float:
    """Seconds of a training step of 2 samples over those of one of the config's batch (the
    best of 3 spans of `steps` steps each): the share of a step that does not grow with the
    batch."""
    step, train_index, size = uniform_step(config, dataset, prepared)

    def seconds(batch):
        for _ in range(5):
            step(batch)
        spans = []
        for _ in range(3):
            started = time.perf_counter()
            for _ in range(steps):
                step(batch)
            spans.append(time.perf_counter() - started)
        return min(spans)

    return seconds(train_index[:2]) / seconds(train_index[:size])


def op_time_shares(config: dict, dataset: str, threads: int, prepared) -> dict[str, float]:
    """Shares of the op time of one run (torch.profiler, self CPU time of every aten op) in
    matmuls, in fused attention and in every other op; and the most that making every other op
    free could gain (1 over the first two shares). The profiler's own cost per call weighs on
    the many small ops, so the other ops' share is an upper estimate."""
    with profile(activities=[ProfilerActivity.CPU]) as profiled:
        uniform_run(config, dataset, threads, prepared)
    seconds = Counter()
    for event in profiled.key_averages():
        if event.key.startswith("aten::"):
            seconds[event.key] += event.self_cpu_time_total
    total = sum(seconds.values())
    matmul = sum(seconds[f"aten::{name}"] for name in MATMULS.values()) / total
    attention = sum(seconds[op.name()] for op in ATTENTION_OPS) / total
    return {
        "matmul share of op time": matmul,
        "attention share of op time": attention,
        "other ops share of op time": 1 - matmul - attention,
        "bound if other ops were free": 1 / (matmul + attention),
    }


def measure(config: dict, dataset: str, threads: int, repeats: int) -> dict:
    torch.set_num_threads(threads)
    started = time.perf_counter()
    prepared = prepared_data(dataset)
    preparation = time.perf_counter() - started
    shapes = MatmulShapes()
    with FlopCounterMode(display=False) as counter, shapes:
        uniform_run(config, dataset, threads, prepared)
    counted = counter.get_total_flops()
    flops = counted + shapes.attention_flops
    seconds, validation = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        with timed_calls(training, "validate_epoch") as spent:
            uniform_run(config, dataset, threads, prepared)
        seconds.append(time.perf_counter() - started)
        validation.append(spent[0] / seconds[-1])
    best = seconds.index(min(seconds))
    wall = seconds[best]
    timings = {}
    rate = matmul_rate(shapes.calls, timings)
    rate_without = matmul_rate(
        {key: count for key, count in shapes.calls.items() if key[0] != "attention"}, timings
    )
    return {
        "dataset": dataset,
        "threads": threads,
        "GFLOP": flops / 1e9,
        "of it attention": shapes.attention_flops / flops,
        "run s": wall,
        "GFLOP/s": flops / wall / 1e9,
        "matmul GFLOP/s": rate,
        "ratio": flops / wall / 1e9 / rate,
        # The figure without the fused attention, whose FLOPs torch's counter misses.
        "ratio, attention not counted": counted / wall / 1e9 / rate_without,
        "data preparation s": preparation,
        # Validation after each epoch: every candidate epoch scores all named subsets.
        "validation share": validation[best],
        "lockstep x8 bound": lockstep_gain(config, dataset, prepared),
        "fixed share of a step": fixed_step_share(config, dataset, prepared),
        **op_time_shares(config, dataset, threads, prepared),
    }


@contextlib.contextmanager
def patched(owner, name: str, value):
    """`owner.name` set to `value` inside the block."""
    original = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


@contextlib.contextmanager
def timed_calls(owner, name: str):
    """Inside the block, calls of `owner.name` add their seconds to the yielded list's item."""
    spent = [0.0]
    function = getattr(owner, name)

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - started

    with patched(owner, name, timed):
        yield spent


@contextlib.contextmanager
def bfloat16_autocast():
    """Training and evaluation under CPU autocast to bfloat16 (as CUDA runs are)."""
    cast = lambda device: torch.autocast("cpu", dtype=torch.bfloat16)  # noqa: E731
    with patched(training, "autocast", cast), patched(evaluation, "autocast", cast):
        yield


@cache
def compiled_forward():
    """Block.forward compiled once for every length (torch.compile, dynamic shapes), made once
    per process: each use after the first reuses what it compiled."""
    return torch.compile(Block.forward, dynamic=True)


def compiled_blocks():
    """The encoder blocks as `compiled_forward` inside the block."""
    return patched(Block, "forward", compiled_forward())


def attention_slots(lengths: torch.Tensor, positions, row_of, buckets: int):
    """For packed tokens (row `row_of`, `positions` in its row, its summary token at 0): the
    slot of each in the padded buffer attention runs on, the buffer's size, and its buckets
    (first slot, rows, width, key mask): `buckets` groups of rows sorted by length (`lengths`,
    summary included), each padded to its longest row."""
    groups = torch.argsort(lengths, stable=True).tensor_split(buckets) if buckets > 1 else [None]
    row_start, plan, size = torch.empty_like(lengths), [], 0
    for rows in groups:
        group_lengths = lengths if rows is None else lengths[rows]
        if len(group_lengths) == 0:
            continue
        width, n_rows = int(group_lengths.max()), len(group_lengths)
        starts = size + torch.arange(n_rows) * width
        row_start = starts if rows is None else row_start.index_put((rows,), starts)
        attend = torch.arange(width) < group_lengths[:, None]
        plan.append((size, n_rows, width, attend[:, None, None, :]))
        size += n_rows * width
    return row_start[row_of] + positions, size, plan


def unpadded_block(self: Block, x: torch.Tensor, attention) -> torch.Tensor:
    """Block.forward on packed tokens (P, dim): every per-token layer on real tokens only;
    attention on the padded buckets of `attention_slots`."""
    slots, size, plan = attention
    dim = x.shape[1]
    qkv = self.qkv(self.attention_norm(x))
    padded = qkv.new_zeros(size, 3 * dim).index_copy(0, slots, qkv)
    parts = []
    for start, n_rows, width, attend in plan:
        q, k, v = (
            padded[start : start + n_rows * width]
            .view(n_rows, width, 3, self.heads, dim // self.heads)
            .permute(2, 0, 3, 1, 4)
        )
        attended = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attend)
        parts.append(attended.transpose(1, 2).reshape(n_rows * width, dim))
    attended = torch.cat(parts).index_select(0, slots)
    x = x + self.attention_out(attended)
    return x + self.ffn(self.ffn_norm(x))


def unpadded_encode(self: MultimodalTransformer, tokens, visible, rows=None, buckets: int = 1):
    """MultimodalTransformer.encode with the rows' visible tokens packed (no padding) through
    every per-token layer and the mean pooling."""
    n_rows = visible.shape[0]
    rows = torch.arange(n_rows) if rows is None else rows
    row_of, token_of = visible.nonzero(as_tuple=True)
    flat = rows[row_of] * tokens.shape[1] + token_of
    summary = self.summary_token.expand(n_rows, -1)
    x = torch.cat([summary, tokens.flatten(0, 1).index_select(0, flat)])
    row_ids = torch.cat([torch.arange(n_rows), row_of])
    positions = torch.cat([row_of.new_zeros(n_rows), visible.cumsum(dim=1)[row_of, token_of]])
    lengths = visible.sum(dim=1) + 1
    attention = attention_slots(lengths, positions, row_ids, min(buckets, max(n_rows, 1)))
    for block in self.blocks:
        x = block(x, attention)
    pooled = x.new_zeros(n_rows, x.shape[1]).index_add(0, row_ids, x)
    return self.head(pooled / lengths[:, None])


def unpadded_forward(self: MultimodalTransformer, values, visible, length_buckets: int = 1):
    return unpadded_encode(self, self.embed(values, visible), visible, buckets=length_buckets)


@contextlib.contextmanager
def unpadded_token_layers():
    """The model's per-token layers on packed tokens, attention alone padded (CPU, no dropout:
    the demo model's)."""
    with (
        patched(Block, "forward", unpadded_block),
        patched(MultimodalTransformer, "encode", unpadded_encode),
        patched(MultimodalTransformer, "forward", unpadded_forward),
    ):
        yield


class PerTensorAdamW(AdamW):
    """miam.core.optim.AdamW as it was before it packed the parameters into one flat buffer:
    the same arithmetic (bit-identical results), updated tensor by tensor."""

    def pack(self, indices: list[int]) -> None:
        pass


def with_buckets(config: dict, dataset: str, buckets: int) -> dict:
    changed = copy.deepcopy(config)
    changed["datasets"][dataset].setdefault("training", {})["length_buckets"] = buckets
    return changed


def candidates(config: dict, dataset: str) -> dict[str, tuple[dict, callable]]:
    """name -> (config, context) of each candidate change: the config to train with, and what
    to change in the code while it trains."""
    own = pipeline.run_settings(config, dataset, "training")["length_buckets"]
    changes = {
        f"length_buckets {buckets}": (
            with_buckets(config, dataset, buckets),
            contextlib.nullcontext,
        )
        for buckets in (1, 2, 3, 4)
        if buckets != own
    }
    return changes | {
        # What packing AdamW's parameters gained: a gain below 1 here.
        "AdamW tensor by tensor (before packing)": (
            config,
            partial(patched, training, "AdamW", PerTensorAdamW),
        ),
        "unfused attention": (config, partial(sdpa_kernel, SDPBackend.MATH)),
        "bfloat16 autocast": (config, bfloat16_autocast),
        "compiled encoder blocks": (config, compiled_blocks),
        "unpadded token layers": (config, unpadded_token_layers),
        "unpadded token layers, length_buckets 4": (
            with_buckets(config, dataset, 4),
            unpadded_token_layers,
        ),
    }


def measure_candidates(config: dict, dataset: str, pairs: int) -> list[dict]:
    """Each candidate's `uniform` run (1 thread, data prepared once): its first run (with any
    compilation), then `pairs` runs of it each beside one of the code as it is, which goes
    first in every other pair (a shared machine's speed drifts: the two runs of a pair see the
    same); the best of each and their ratio, the median of the pairs' ratios, and how many
    pairs the candidate won."""
    torch.set_num_threads(1)
    prepared = prepared_data(dataset)

    def seconds(changed: dict, context) -> float:
        with context():
            started = time.perf_counter()
            uniform_run(changed, dataset, 1, prepared)
            return time.perf_counter() - started

    rows = []
    for name, (changed, context) in candidates(config, dataset).items():
        first = seconds(changed, context)
        ways = [(config, contextlib.nullcontext), (changed, context)]  # as it is, candidate
        timed = []
        for pair in range(pairs):
            order = (1, 0) if pair % 2 else (0, 1)
            spent = {way: seconds(*ways[way]) for way in order}
            timed.append((spent[0], spent[1]))
        as_it_is, candidate = (min(times) for times in zip(*timed, strict=True))
        ratios = [before / after for before, after in timed]
        rows.append(
            {
                "dataset": dataset,
                "candidate": name,
                "first run s": first,
                "run s": candidate,
                "as it is s": as_it_is,
                "gain": as_it_is / candidate,
                "median pair gain": statistics.median(ratios),
                "pairs won": f"{sum(ratio > 1 for ratio in ratios)} of {pairs}",
            }
        )
    torch._dynamo.reset()
    return rows


def markdown_table(rows: list[dict]) -> list[str]:
    header = list(rows[0])
    return [
        "| " + " | ".join(header) + " |",
        "|"
        + "|".join("---" if key in ("dataset", "candidate") else "---:" for key in header)
        + "|",
        *[
            "| "
            + " | ".join(
                f"{value:.2f}" if isinstance(value, float) else str(value) for value in row.values()
            )
            + " |"
            for row in rows
        ],
    ]


def figures_table(rows: list[dict]) -> list[str]:
    """One column per dataset and thread count, one row per figure: the figures read down."""
    columns = [f"{row['dataset']}, {row['threads']} thread(s)" for row in rows]
    figures = [key for key in rows[0] if key not in ("dataset", "threads")]
    return [
        "| figure | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
        *[
            f"| {figure} | " + " | ".join(f"{row[figure]:.2f}" for row in rows) + " |"
            for figure in figures
        ],
    ]


def markdown_page(rows: list[dict], training: str | None, candidate_rows: list[dict]) -> str:
    from miam.analysis.summary import measured_page_header

    lines = [
        *measured_page_header(
            "Small runs, measured", "python benchmarks/bench_small_runs.py --markdown ..."
        ),
        "One `uniform` run (seed 0) of each dataset, the default config's model and training; "
        "run seconds the best of the repeats, its data prepared once before; ratio: achieved "
        "GFLOP/s over this CPU's float32 matmul GFLOP/s at the run's own matmul shapes; fixed "
        "share of a step: a training step of 2 samples over one of the config's batch; shares "
        "of op time: the self time of the run's aten ops under torch.profiler (whose cost per "
        "call inflates the many small other ops: an upper estimate of theirs), and the bound "
        "1 / (matmul + attention shares).",
        "",
        *figures_table(rows),
    ]
    if training:
        lines += ["", training]
    if candidate_rows:
        lines += [
            "",
            "## Candidate changes, measured",
            "",
            "The same run on 1 thread with one change each, in pairs of runs beside one of the "
            "code as it is (which goes first in every other pair); gain: the best run seconds "
            "of the code as it is over the candidate's (above 1: faster); median pair gain: "
            "the median over the pairs of the two runs' ratio, the figure a drifting machine "
            "moves least; first run: the candidate's first, before its pairs, with any "
            "compilation (torch.compile keeps what it compiled in an on-disk cache: after an "
            "earlier run on the machine, its first run is shorter). The code as it is runs the "
            "same work beside every candidate: how far its seconds move down the column is how "
            "far a gain near 1 is from noise.",
            "",
            *markdown_table(candidate_rows),
        ]
    return "\n".join(lines) + "\n"


def figures_line(row: dict) -> str:
    return "  ".join(
        f"{key} {value:.2f}" if isinstance(value, float) else f"{key} {value}"
        for key, value in row.items()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default="config/config.yaml")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--candidates", action="store_true", help="also measure the candidate changes (1 thread)"
    )
    parser.add_argument(
        "--pairs", type=int, default=6, help="runs of each candidate, each beside the code as it is"
    )
    parser.add_argument("--markdown", type=Path, help="also write the figures to this page")
    args = parser.parse_args()
    config = yaml.safe_load((ROOT / args.configfile).read_text())
    datasets = list(config["datasets"])
    rows = []
    for threads in args.threads:
        for dataset in datasets:
            rows.append(measure(config, dataset, threads, args.repeats))
            print(figures_line(rows[-1]), flush=True)
    training = None
    if all((ROOT / "results" / d / "benchmarks" / "train").exists() for d in datasets):
        train = stage_table(datasets).loc["train"]
        training = (
            f"The default run's training stage (its last run, benchmarks/bench_default_run.py): "
            f"{train.jobs:.0f} jobs, {train.wall_s:.0f} job-seconds."
        )
        print(training)
    candidate_rows = []
    for dataset in datasets if args.candidates else []:
        for row in measure_candidates(config, dataset, args.pairs):
            candidate_rows.append(row)
            print(figures_line(row), flush=True)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown_page(rows, training, candidate_rows))
        print(f"wrote {args.markdown}")


if __name__ == "__main__":
    main()
