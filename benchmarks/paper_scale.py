"""Paper scale, measured: both embedded benchmarks through every stage on one machine.

    python benchmarks/paper_scale.py [--scales tiny,demo,paper] [--datasets geoplant,taxabench]
        [--workdir results/scale] [--cores N] [--train-steps 12] [--eval-samples 256]

    # docs/performance.md's scaling table: the defaults, on a 2-core machine
    python benchmarks/paper_scale.py
    # one more size, e.g. GeoPlant at half the paper's surveys (rows are added to the table)
    python benchmarks/paper_scale.py --datasets geoplant --scales paper:45000

For each dataset and scale: generate the synthetic benchmark, tokenize it in shards of at most
the paper config's size (GeoPlant 5,625 samples, TaxaBench 2,250), `--cores` shard processes
at a time (as the workflow's tokenize_shard jobs under `--cores`), gather the shards
(streamed, float16 where the error bound allows), split, train the paper's model
(config/paper.yaml: d 192, 7 blocks, batch 256, MIAM masking) and evaluate it on every
evaluation subset of the paper config. Every stage is a process of its own, so its wall time,
CPU time (user + system, its children included) and peak resident memory (ru_maxrss) are a
workflow job's. Prints the scaling table (Markdown) and writes it, with every figure, to
`<workdir>/scaling.json` and `<workdir>/scaling.md`.

What is measured and what is extrapolated:
- generate, tokenize, gather, split: measured whole.
- training: the data preparation of a training job (load, normaliser, device copy) and
  `--train-steps` timed steps after one warm-up step, at the real data size; the epoch time is
  extrapolated (steps per epoch x median step time), its peak memory is measured.
- evaluation: a real `miam.runs.evaluation.evaluate_run` job (all the data loaded and copied, as the
  workflow's) on at most `--eval-samples` samples of each of val and test; the time for the
  whole val and test splits is extrapolated linearly in samples.
- the CPU FLOP rate: forward + backward FLOPs of the timed steps (visible tokens, padding of the
  length buckets, embeddings) per second.
Generated data is kept and reused (`<workdir>/<dataset>-<scale>/data`); `--fresh` regenerates.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from miam.core.hardware import usable_cores

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

# The synthetic benchmarks' reader options and split (config/config.yaml), with GeoPlant's
# satellite tiles as one token per patch, the paper's layout (config/paper.yaml).
READERS = {
    "geoplant": ("geoplant", {"min_occurrences": 21, "per_band": False}),
    "taxabench": ("taxabench", {"min_occurrences": 10}),
}
SPLIT = {"block_size": 1.0, "val_fraction": 0.15, "test_fraction": 0.15, "seed": 0}
STAGES = ("generate", "tokenize", "gather", "split", "train", "evaluate")


def paper_config() -> dict:
    import yaml

    return yaml.safe_load((REPO / "config" / "paper.yaml").read_text())


# ---------------------------------------------------------------- stages (each its own process)


def stage_generate(dataset: str, scale: str, root: str) -> dict:
    """`scale` "paper:45000": the paper scale's settings with 45,000 samples (GeoPlant only)."""
    from miam.inputs.sources import generate

    if ":" in scale:
        from miam.inputs.datasets import synthetic_geoplant

        assert dataset == "geoplant", "only synthetic-geoplant takes a sample count"
        name, n = scale.split(":")
        synthetic_geoplant.generate(root, scale=name, seed=0, n_surveys=int(n))
    else:
        generate(dataset, root, scale=scale, seed=0)
    return {}


def expected_samples(dataset: str, scale: str) -> int:
    if ":" in scale:
        return int(scale.split(":")[1])
    if dataset == "geoplant":
        from miam.inputs.datasets.synthetic_geoplant import SCALES

        return SCALES[scale]["n_surveys"]
    from miam.inputs.datasets.synthetic_taxabench import SCALES

    return SCALES[scale].n_observations


def stage_tokenize_shard(dataset: str, root: str, shard: int, n_shards: int, out: str) -> dict:
    from miam.inputs.sources import tokenize

    logging.disable(logging.WARNING)  # planted problems are logged once each
    reader, options = READERS[dataset]
    tokens, _ = tokenize(reader, root, progress=False, shard=(shard, n_shards), **options)
    tokens.save(out)  # float32, as the workflow's shards
    return {"samples": tokens.n_samples}


def stage_gather(shards: list[str], out: str) -> dict:
    from miam.core.tokens import TokenSet

    meta = TokenSet.save_concatenated([TokenSet.load(s) for s in shards], out, storage="auto")
    return {"storage": {m["name"]: [m["dtype"], m["max_error_std"]] for m in meta["modalities"]}}


def stage_split(tokens: str, out: str) -> dict:
    import pandas as pd

    from miam.core.split import write_split

    samples = pd.read_csv(f"{tokens}/samples.csv", dtype={"sample_id": str})
    write_split(samples, out, **SPLIT)
    return {}


def stage_train(tokens: str, split: str, out: str, steps: int, threads: int) -> dict:
    """A training job's data preparation, then `steps` timed training steps of the paper model."""
    import torch
    from bench_model import encoder_flops

    from miam.core.data import generator
    from miam.runs.checkpoints import atomic_save
    from miam.runs.training import (
        TrainConfig,
        optimisation_step,
        prepare_data,
        prepare_run,
        step_visibility,
    )

    torch.set_num_threads(threads)
    config = paper_config()
    train_config = TrainConfig.from_dict({**config["training"], "device": "cpu"})
    started = time.perf_counter()
    prepared = prepare_data(tokens, split, torch.device("cpu"))
    prepare_seconds = time.perf_counter() - started
    run = prepare_run(
        train_config, 0, config["strategies"]["miam"], None, config["model"], None, prepared
    )
    data, index, net, model_config = run.data, run.index, run.net, run.net.config
    loader, masks = generator(0, "loader", 0), generator(0, "mask", 0)
    order = run.train_index[torch.randperm(len(run.train_index), generator=loader)]
    batches = order.split(train_config.batch_size)
    net.train()
    seconds, flops = [], []
    # Tiny data has fewer batches than timed steps: the epoch's batches again.
    for batch in itertools.islice(itertools.cycle(batches), steps + 1):
        step_started = time.perf_counter()
        visible = step_visibility(run, batch, masks)
        optimisation_step(run, batch, visible, train_config.lr)
        seconds.append(time.perf_counter() - step_started)
        # Forward FLOPs as computed: each length bucket padded to its longest row.
        lengths = torch.sort(visible.sum(dim=1)).values
        parts = lengths.tensor_split(train_config.length_buckets)
        encoder = sum(
            len(part) * float(encoder_flops(int(part.max()) + 1, model_config))
            for part in parts
            if len(part)
        )
        flops.append(3 * (encoder + len(batch) * embedding_flops(data.layout, model_config)))
    timed = seconds[1:]  # the first step warms up
    step = statistics.median(timed)
    atomic_save(
        {
            "weights": net.state_dict(),
            "normalizer": prepared.normalizer.state_dict(),
            "layout": [vars(m) for m in data.layout],
            "n_outputs": net.head[-1].out_features,
            "model": model_config.to_dict(),
            "task": data.task,
        },
        Path(out),
    )
    steps_per_epoch = len(batches)
    return {
        "prepare_seconds": prepare_seconds,
        "timed_steps": len(timed),
        "step_seconds": step,
        "steps_per_epoch": steps_per_epoch,
        "epoch_train_seconds": steps_per_epoch * step,
        "flop_rate": sum(flops[1:]) / sum(timed),
        "train_samples": len(run.train_index),
        "val_samples": len(index["val"]),
    }


def embedding_flops(layout, config) -> float:
    """Forward FLOPs of embedding every token of one sample (periodic or linear)."""
    total = 0.0
    for m in layout:
        if m.kind == "scalar":
            total += m.n_tokens * 2 * (2 * config.n_frequencies) * config.dim
        else:
            total += m.n_tokens * 2 * m.token_dim * config.dim
    return total


def stage_evaluate(
    dataset: str, model: str, tokens: str, split: str, samples: int, threads: int
) -> dict:
    """A real evaluate_run job on at most `samples` samples of each of val and test; the time
    spent scoring (in `evaluate_subsets`) is extrapolated to the whole splits, the rest (loading
    the model and copying the data) is counted once."""
    import numpy as np
    import pandas as pd
    import torch

    import miam.runs.evaluation
    from miam.workflow.pipeline import evaluation_subsets

    torch.set_num_threads(threads)
    subsets = evaluation_subsets(paper_config()["datasets"][dataset])
    frame = pd.read_csv(split)
    rng = np.random.default_rng(0)
    full = {name: int((frame["split"] == name).sum()) for name in ("val", "test")}
    for name in ("val", "test"):
        rows = np.flatnonzero(frame["split"] == name)
        frame.loc[rng.permutation(rows)[samples:], "split"] = "unused"
    reduced = Path(split).with_name("split_evaluated.csv")
    frame.to_csv(reduced, index=False)
    rows = sum(int((frame["split"] == name).sum()) for name in ("val", "test"))
    scoring = []
    score = miam.runs.evaluation.evaluate_subsets

    def timed_scoring(*args, **kwargs):
        started = time.perf_counter()
        out = score(*args, **kwargs)
        scoring.append(time.perf_counter() - started)
        return out

    miam.runs.evaluation.evaluate_subsets = timed_scoring  # evaluate_runs looks the name up here
    started = time.perf_counter()
    miam.runs.evaluation.evaluate_run(model, tokens, reduced, subsets, device="cpu")
    seconds = time.perf_counter() - started
    fixed = seconds - sum(scoring)
    return {
        "subsets": len(subsets),
        "evaluated_samples": rows,
        "split_samples": sum(full.values()),
        "seconds": seconds,
        "setup_seconds": fixed,
        "full_seconds": fixed + sum(scoring) * sum(full.values()) / max(rows, 1),
        "sample_subsets_per_second": rows * len(subsets) / sum(scoring),
    }


STAGE_FUNCTIONS = {
    "generate": stage_generate,
    "tokenize_shard": stage_tokenize_shard,
    "gather": stage_gather,
    "split": stage_split,
    "train": stage_train,
    "evaluate": stage_evaluate,
}


# ---------------------------------------------------------------- the driver


def launch(stage: str, result: Path, **kwargs) -> subprocess.Popen:
    command = [sys.executable, __file__, "--stage", stage, "--stage-args", json.dumps(kwargs)]
    return subprocess.Popen([*command, "--stage-result", str(result)], cwd=REPO)


def run_jobs(stage: str, jobs: list[tuple[Path, dict]], parallel: int) -> dict:
    """Run `stage` once per (result file, arguments), at most `parallel` at a time, as a
    workflow would with that many cores: wall time, CPU seconds summed over the jobs, the
    largest peak RSS of one job."""
    started = time.perf_counter()
    cpu, peak, running, pending = 0.0, 0, {}, list(jobs)
    while pending or running:
        while pending and len(running) < parallel:
            result, kwargs = pending.pop(0)
            process = launch(stage, result, **kwargs)
            running[process.pid] = process
        pid, status, usage = os.wait4(-1, 0)
        process = running.pop(pid)
        if os.waitstatus_to_exitcode(status):
            raise RuntimeError(f"{stage} {process.args[-3]} failed")
        cpu += usage.ru_utime + usage.ru_stime
        peak = max(peak, usage.ru_maxrss * 1024)  # Linux: kilobytes
    results = [json.loads(result.read_text()) for result, _ in jobs]
    return {"wall": time.perf_counter() - started, "cpu": cpu, "peak_rss": peak, "out": results}


def run_stage(stage: str, folder: Path, **kwargs) -> dict:
    measured = run_jobs(stage, [(folder / f"{stage}.result.json", kwargs)], 1)
    measured["out"] = measured["out"][0]
    return measured


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def rehearse(dataset: str, scale: str, args) -> dict:
    folder = Path(args.workdir) / f"{dataset}-{scale.replace(':', '-')}"
    data = folder / "data"
    stages = {}
    if args.fresh or not (folder / "generated").exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        stages["generate"] = run_stage(
            "generate", folder, dataset=dataset, scale=scale, root=str(data)
        )
        (folder / "generated").write_text(json.dumps(stages["generate"]))
    else:
        stages["generate"] = json.loads((folder / "generated").read_text())
    print(f"{dataset} {scale}: generated", flush=True)

    # As many shards as the paper config's samples per shard ask for (config/paper.yaml's
    # `shards` at paper scale), at least one per core.
    per_shard = expected_samples(dataset, "paper") // paper_config()["datasets"][dataset]["shards"]
    n_shards = max(args.cores, -(-expected_samples(dataset, scale) // per_shard))
    shards = [folder / "shards" / str(k) for k in range(n_shards)]
    shutil.rmtree(folder / "shards", ignore_errors=True)
    jobs = [
        (
            folder / f"tokenize{k}.result.json",
            {
                "dataset": dataset,
                "root": str(data),
                "shard": k,
                "n_shards": n_shards,
                "out": str(out),
            },
        )
        for k, out in enumerate(shards)
    ]
    stages["tokenize"] = run_jobs("tokenize_shard", jobs, args.cores)
    stages["tokenize"]["shards"] = n_shards
    tokens = folder / "tokens"
    stages["gather"] = run_stage("gather", folder, shards=[str(s) for s in shards], out=str(tokens))
    stages["tokenize"]["shard_bytes"] = sum(folder_bytes(s) for s in shards)
    shutil.rmtree(folder / "shards")
    split = folder / "split.csv"
    stages["split"] = run_stage("split", folder, tokens=str(tokens), out=str(split))
    print(f"{dataset} {scale}: tokenized, gathered, split", flush=True)
    model = folder / "model.pt"
    stages["train"] = run_stage(
        "train",
        folder,
        tokens=str(tokens),
        split=str(split),
        out=str(model),
        steps=args.train_steps,
        threads=args.cores,
    )
    stages["evaluate"] = run_stage(
        "evaluate",
        folder,
        dataset=dataset,
        model=str(model),
        tokens=str(tokens),
        split=str(split),
        samples=args.eval_samples,
        threads=args.cores,
    )
    print(f"{dataset} {scale}: trained and evaluated", flush=True)
    meta = json.loads((tokens / "meta.json").read_text())
    n = meta["n_samples"]
    tokens_per_sample = sum(len(m["token_names"]) for m in meta["modalities"])
    return {
        "dataset": dataset,
        "scale": scale,
        "samples": n,
        "tokens_per_sample": tokens_per_sample,
        "tokens": n * tokens_per_sample,
        "data_bytes": folder_bytes(data),
        "token_bytes": folder_bytes(tokens),
        "float32_bytes": stages["tokenize"]["shard_bytes"],
        "storage": stages["gather"]["out"]["storage"],
        "stages": stages,
    }


def epoch_estimate(row: dict) -> float:
    """Seconds per training epoch: the timed steps extrapolated, plus one validation of every
    validation sample on all inputs, the named subsets and each modality alone, at the
    evaluation rate measured."""
    train = row["stages"]["train"]["out"]
    evaluate = row["stages"]["evaluate"]["out"]
    config = paper_config()["datasets"][row["dataset"]]
    named = len(config.get("subsets", {})) or 2 ** len(row["storage"]) - 1
    subsets = 1 + named + len(row["storage"])
    return (
        train["epoch_train_seconds"]
        + train["val_samples"] * subsets / evaluate["sample_subsets_per_second"]
    )


def gigabytes(n: float) -> str:
    return f"{n / 1e9:.2f}" if n >= 1e7 else f"{n / 1e9:.3f}"


def duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def table(rows: list[dict]) -> str:
    lines = [
        "| dataset | scale | samples | tokens (per sample) | tokens on disk, GB (float32) "
        "| generate | tokenize | gather | split | training data + steps | epoch (est.) "
        "| evaluation, val + test (est.) | peak RSS per stage, GB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        s = row["stages"]
        tokenize = s["tokenize"]
        per_sample = tokenize["cpu"] / row["samples"] * 1e3
        train = s["train"]["out"]
        peaks = " / ".join(gigabytes(s[name]["peak_rss"]) for name in STAGES)
        lines.append(
            f"| {row['dataset']} | {row['scale']} | {row['samples']:,} "
            f"| {row['tokens']:,} ({row['tokens_per_sample']}) "
            f"| {gigabytes(row['token_bytes'])} ({gigabytes(row['float32_bytes'])}) "
            f"| {duration(s['generate']['wall'])} "
            f"| {duration(tokenize['wall'])} wall, {duration(tokenize['cpu'])} CPU, "
            f"{tokenize.get('shards', 2)} shards ({per_sample:.1f} ms/sample) "
            f"| {duration(s['gather']['wall'])} | {duration(s['split']['wall'])} "
            f"| {duration(s['train']['wall'])} ({train['timed_steps']} x "
            f"{train['step_seconds']:.1f} s) "
            f"| {duration(epoch_estimate(row))} "
            f"| {duration(s['evaluate']['out']['full_seconds'])} "
            f"| {peaks} |"
        )
    lines.append("")
    lines.append(f"Peak RSS per stage in the order {' / '.join(STAGES)}.")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scales", default="tiny,demo,paper", help='"paper:45000": GeoPlant at 45,000 surveys'
    )
    parser.add_argument("--datasets", default="geoplant,taxabench")
    parser.add_argument("--workdir", default=str(REPO / "results" / "scale"))
    parser.add_argument("--cores", type=int, default=usable_cores())
    parser.add_argument("--train-steps", type=int, default=12)
    parser.add_argument("--eval-samples", type=int, default=256, help="per split, at most")
    parser.add_argument("--fresh", action="store_true", help="regenerate the data")
    parser.add_argument("--epochs", type=int, default=50, help="epochs of the run estimate")
    parser.add_argument("--stage", choices=sorted(STAGE_FUNCTIONS), help=argparse.SUPPRESS)
    parser.add_argument("--stage-args", help=argparse.SUPPRESS)
    parser.add_argument("--stage-result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        out = STAGE_FUNCTIONS[args.stage](**json.loads(args.stage_args))
        Path(args.stage_result).write_text(json.dumps(out))
        return
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    saved = workdir / "scaling.json"
    rows = json.loads(saved.read_text()) if saved.exists() else []  # earlier runs' rows
    for dataset in args.datasets.split(","):
        for scale in args.scales.split(","):
            row = rehearse(dataset, scale, args)
            rows = [r for r in rows if (r["dataset"], r["scale"]) != (dataset, scale)] + [row]
            saved.write_text(json.dumps(rows, indent=1))
    text = table(rows) + "\n\n" + notes(rows, args.epochs)
    (workdir / "scaling.md").write_text(text + "\n")
    print(text)


def notes(rows: list[dict], epochs: int) -> str:
    """Tokenization cost per sample, storage, the CPU FLOP rate and the per-run GPU estimate."""
    lines = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        mine = sorted((r for r in rows if r["dataset"] == dataset), key=lambda r: r["samples"])
        if len(mine) >= 2:
            small, large = mine[-2], mine[-1]
            cpu = [r["stages"]["tokenize"]["cpu"] for r in (small, large)]
            slope = (cpu[1] - cpu[0]) / (large["samples"] - small["samples"])
            lines.append(
                f"{dataset} tokenization: {slope * 1e3:.2f} CPU-ms per extra sample between "
                f"{small['samples']:,} and {large['samples']:,} samples "
                f"({cpu[0] / small['samples'] * 1e3:.2f} and "
                f"{cpu[1] / large['samples'] * 1e3:.2f} ms/sample overall)"
            )
        row = mine[-1]
        train = row["stages"]["train"]["out"]
        run_flops = epochs * epoch_estimate(row) * train["flop_rate"]
        lines.append(
            f"{dataset} {row['scale']}: stored {row['storage']}; training ran at "
            f"{train['flop_rate'] / 1e9:.0f} GFLOP/s on the CPU; one {epochs}-epoch run is "
            f"~{run_flops / 1e15:.2f} PFLOP (CPU time x CPU FLOP rate): estimated "
            f"{run_flops / 150e12 / 60:.1f}-{run_flops / 50e12 / 60:.1f} GPU-minutes at an "
            "effective 50-150 TFLOP/s in bf16 (an estimate, not a measurement)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
