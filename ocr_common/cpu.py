"""How many CPU cores this process may really use."""

from __future__ import annotations

import os
from pathlib import Path


def usable_cores() -> float:
    """CPUs this process may use: the affinity mask, capped by a cgroup v2 CPU quota if any
    (a container with ``cpu.max = 200000 100000`` gets 2 cores whatever the host has)."""
    cores: float = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cores = min(cores, int(quota) / int(period))
    except (OSError, ValueError):
        pass
    return cores
