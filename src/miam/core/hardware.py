"""What this process may use of the machine."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """CPU cores this process may run on: its affinity (a SLURM job's allocation, a container's
    cpuset), not every core of the node as `os.cpu_count()` has it."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
