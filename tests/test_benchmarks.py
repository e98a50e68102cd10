"""The benchmark scripts run and write their pages; their figures are never asserted."""

import subprocess
import sys
from pathlib import Path

from miam.core.masking import STRATEGIES

ROOT = Path(__file__).resolve().parents[1]


def test_mask_sampling_benchmark_covers_every_registered_strategy(tmp_path):
    page = tmp_path / "masking.md"
    command = [sys.executable, "benchmarks/bench_masking.py", "--device", "cpu"]
    tiny = ["--batch-size", "16", "--min-seconds", "0", "--markdown", str(page)]
    subprocess.run(command + tiny, cwd=ROOT, check=True, capture_output=True, timeout=300)
    rows = [line for line in page.read_text().splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[0][2:] for row in rows[1:]] == list(STRATEGIES)
    assert all(len(row.split(" | ")) == 8 for row in rows)
