"""How much of this process's CPUs other processes keep busy, read from the machine itself.

Two CPU-bound processes that each run a thread per core slow each other down several-fold
(measured on a 2-core machine: 0.56x of half the idle rate beside one busy neighbour, 0.99x
with one thread). Other Dagster runs are only some of the neighbours (an ingestion, a
notebook, another user's job, a hypervisor's steal), so the thread count follows what
``/proc/stat`` says the CPUs did, minus this process's own CPU time.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

PROC_STAT = Path("/proc/stat")
# /proc/stat cpuN columns: user nice system idle iowait irq softirq steal guest guest_nice;
# guest time is already inside user/nice, idle and iowait are not busy.
_BUSY_COLUMNS = (0, 1, 2, 5, 6, 7)


@dataclass(frozen=True)
class CpuSample:
    """Busy seconds of some CPUs (every process), this process's CPU seconds, and when."""

    busy_s: float
    own_s: float
    at_s: float


def busy_seconds(cpus: set[int], text: str, ticks_per_s: float) -> float:
    """Busy seconds since boot summed over ``cpus`` from the text of ``/proc/stat``."""
    total = 0
    for line in text.splitlines():
        name, _, values = line.partition(" ")
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
            columns = values.split()
            total += sum(int(columns[i]) for i in _BUSY_COLUMNS if i < len(columns))
    return total / ticks_per_s


def sample_cpus(cpus: set[int], stat: Path = PROC_STAT) -> CpuSample | None:
    """Now's sample, or None where the machine does not say (no procfs)."""
    try:
        text = stat.read_text()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    return CpuSample(busy_seconds(cpus, text, ticks), time.process_time(), time.monotonic())


def others_busy(before: CpuSample, after: CpuSample) -> float:
    """CPUs' worth of time other processes kept busy between two samples (e.g. 1.0: one core)."""
    elapsed = after.at_s - before.at_s
    if elapsed <= 0:
        return 0.0
    others = (after.busy_s - before.busy_s) - (after.own_s - before.own_s)
    return max(others, 0.0) / elapsed


def measure_others_busy(cpus: set[int], window_s: float = 0.2) -> float | None:
    """Others' busy CPUs over the next ``window_s`` seconds (None: cannot tell)."""
    before = sample_cpus(cpus)
    if before is None:
        return None
    time.sleep(window_s)
    after = sample_cpus(cpus)
    return None if after is None else others_busy(before, after)


def threads_beside(cores: int, others: float | None, cpus: int | None = None) -> int:
    """Threads for a CPU-bound process on ``cores`` physical cores while others keep ``others``
    of its ``cpus`` logical CPUs busy: a core fewer for each core they use (from half a core
    on), at least one."""
    if others is None:
        return max(cores, 1)
    share = others * cores / max(cpus or cores, 1)  # logical CPUs -> physical cores
    return max(1, min(cores, cores - math.floor(share + 0.5)))
