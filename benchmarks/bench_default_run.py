"""Wall time of the default run and where its seconds go, stage by stage.

    python benchmarks/bench_default_run.py [--configfile config/config.yaml] [--cores 2]
                                           [--keep] [--markdown docs/figures/default_run.md]

Deletes the config's datasets' results (unless --keep, which then only re-reads the last run's
benchmarks), runs `snakemake --cores N` from the repository root, and prints:
- the wall time of the whole run, and how much of the cores' time in it the jobs filled;
- per stage (the folder under results/<dataset>/benchmarks/): jobs and summed job wall seconds,
  as Snakemake's `benchmark:` files recorded them (a job's time includes its Python and torch
  start-up; their CPU seconds are left out, being sampled every 30 s: miam.analysis.job_costs);
- the fixed costs every job or the workflow pays: starting Python with torch and miam, parsing
  the workflow (a dry run over the finished results), loading one dataset's tokens;
- one `uniform` training run of the first dataset alone on 1 thread: the same work every time,
  so runs on different days (or machines) can be compared by it (a shared VM's speed varies).
With --markdown, the same figures go to a Markdown page with the date and the machine, which
docs/performance.md links: the figures there are this script's, never typed.
Run it on an otherwise idle machine: other processes on the same cores distort the figures.
Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from miam.analysis import job_costs

ROOT = Path(__file__).resolve().parents[1]


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - started


def stage_table(datasets: list[str]) -> pd.DataFrame:
    """Per stage of the datasets' last run: jobs, job wall and sampled CPU seconds (job_costs)."""
    return job_costs.stage_table(job_costs.job_benchmarks(ROOT / "results", datasets)).round(1)


def fixed_costs(datasets: list[str], configfile: str) -> dict[str, float]:
    python = sys.executable
    costs = {
        "python + torch + miam.runs.training import": timed(
            [python, "-c", "import miam.runs.training, miam.analysis.evaluation_jobs"]
        ),
        "workflow parse (dry run, nothing to do)": timed(
            ["snakemake", "-n", "--configfile", configfile, "--quiet"]
        ),
    }
    tokens = ROOT / "results" / datasets[0] / "tokens"
    if tokens.exists():
        # Memory-mapped, loading costs little beyond the import; timing noise can make the
        # difference negative, hence the clip at 0.
        costs[f"load {datasets[0]} tokens"] = max(
            0.0,
            timed(
                [
                    python,
                    "-c",
                    f"from miam.core.tokens import TokenSet; TokenSet.load({str(tokens)!r})",
                ]
            )
            - timed([python, "-c", "import miam.core.tokens"]),
        )
    return {key: round(value, 2) for key, value in costs.items()}


def prepared_data(dataset: str):
    """The dataset's tokens and split under results/, prepared on the CPU as a training job
    prepares them once for all its runs (miam.runs.training.prepare_data)."""
    import torch

    from miam.runs.training import prepare_data

    folder = ROOT / "results" / dataset
    return prepare_data(folder / "tokens", folder / "split.csv", torch.device("cpu"))


def uniform_run(config: dict, dataset: str, threads: int = 1, prepared=None) -> None:
    """One `uniform` run of `dataset` (seed 0, `threads` threads), written to a temp folder;
    `prepared`: the job's data, prepared once (miam.runs.training)."""
    from miam.runs.training import train_run
    from miam.workflow import pipeline

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


def reference_run(config: dict, dataset: str) -> float:
    """Seconds of one `uniform` run of `dataset` (seed 0, 1 thread)."""
    import torch

    torch.set_num_threads(1)
    started = time.perf_counter()
    uniform_run(config, dataset)
    return time.perf_counter() - started


def busy_share(stages: pd.DataFrame, cores: int, wall: float) -> float:
    """The jobs' summed wall seconds over `cores` x the run's wall time."""
    return stages.loc["total", "wall_s"] / (cores * wall)


def markdown_page(
    wall: float | None, cores: int, stages: pd.DataFrame, costs: dict, reference: float | None
) -> str:
    from miam.analysis.summary import measured_page_header

    lines = measured_page_header(
        "The default run, measured", "python benchmarks/bench_default_run.py --markdown ..."
    )
    if wall is not None:
        lines += [
            f"Wall time of `snakemake --cores {cores}`: **{wall:.0f} s**; the jobs' seconds fill "
            f"{100 * busy_share(stages, cores, wall):.0f} % of the cores' seconds in it "
            "(below 100 %: a core waited for a job to become ready).",
            "",
        ]
    lines += [
        # Job wall seconds only: the CPU seconds Snakemake samples miss up to 30 s of each job
        # (job_costs).
        "| stage | jobs | job wall s |",
        "|---|---:|---:|",
        *[f"| {stage} | {row.jobs:.0f} | {row.wall_s:.0f} |" for stage, row in stages.iterrows()],
        "",
        "Fixed costs: " + "; ".join(f"{key} {value} s" for key, value in costs.items()) + ".",
    ]
    if reference is not None:
        lines += [
            "",
            f"This machine then: one `uniform` run of the first dataset on 1 thread took "
            f"{reference:.1f} s (the same work every time: compare machines and days by it).",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default="config/config.yaml")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="report the last run, run nothing")
    parser.add_argument("--markdown", type=Path, help="also write the figures to this page")
    args = parser.parse_args()
    config = yaml.safe_load((ROOT / args.configfile).read_text())
    datasets = list(config["datasets"])
    wall = reference = None
    if not args.keep:
        for dataset in datasets:
            shutil.rmtree(ROOT / "results" / dataset, ignore_errors=True)
        command = ["snakemake", "--cores", str(args.cores), "--configfile", args.configfile]
        print("running", " ".join(command), flush=True)
        wall = timed(command)
        print(f"\nwall time of the run: {wall:.0f} s on {args.cores} cores\n")
    stages = stage_table(datasets)
    if wall is not None:
        share = 100 * busy_share(stages, args.cores, wall)
        print(f"the jobs' seconds fill {share:.0f} % of the cores' seconds in it\n")
    print("per stage (job wall seconds summed over the stage's jobs):")
    print(stages.drop(columns="cpu_s").to_string())
    costs = fixed_costs(datasets, args.configfile)
    print("\nfixed costs:")
    for key, value in costs.items():
        print(f"  {key}: {value} s")
    if "uniform" in config["strategies"] and (ROOT / "results" / datasets[0] / "tokens").exists():
        reference = reference_run(config, datasets[0])
        print(
            f"\nthis machine now: one `uniform` run of {datasets[0]}, 1 thread: {reference:.1f} s"
        )
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown_page(wall, args.cores, stages, costs, reference))
        print(f"\nwrote {args.markdown}")


if __name__ == "__main__":
    main()
