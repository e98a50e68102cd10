"""What a run's jobs cost, from the benchmark files Snakemake writes per job
(results/<dataset>/benchmarks/<stage>[/...].tsv): one reader for the default-run benchmark and
the study's pages."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd


def job_benchmarks(results: str | Path, datasets: Iterable[str]) -> pd.DataFrame:
    """One row per job of `datasets`: its stage (the folder under benchmarks/), wall and CPU
    seconds, and when it started and ended (a benchmark file is written when its job ends, `s`
    seconds after it began). The CPU seconds are a lower bound: Snakemake samples a job's CPU
    time every 30 s after its first 15 and keeps the last sample, so up to 30 s at a job's end
    go uncounted (and all of a job shorter than its first sample)."""
    rows = []
    for dataset in datasets:
        folder = Path(results) / dataset / "benchmarks"
        for path in sorted(folder.rglob("*.tsv")):
            record = pd.read_csv(path, sep="\t").iloc[-1]
            ended = path.stat().st_mtime
            rows.append(
                {
                    "dataset": dataset,
                    "stage": path.relative_to(folder).parts[0].removesuffix(".tsv"),
                    "wall_s": float(record["s"]),
                    "cpu_s": float(record["cpu_time"]),
                    "started": ended - float(record["s"]),
                    "ended": ended,
                }
            )
    if not rows:
        raise ValueError(f"no job benchmarks of {list(datasets)} under {results}")
    return pd.DataFrame(rows)


def stage_table(jobs: pd.DataFrame) -> pd.DataFrame:
    """Per stage: jobs, summed job wall and (sampled) CPU seconds, and a `total` row; longest
    first."""
    table = jobs.groupby("stage").agg(
        jobs=("wall_s", "size"), wall_s=("wall_s", "sum"), cpu_s=("cpu_s", "sum")
    )
    table.loc["total"] = table.sum()
    return table.sort_values("wall_s", ascending=False)
