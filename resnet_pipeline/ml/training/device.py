"""Where training runs: a GPU when there is one, else the CPU with a thread count that fits;
and in which precision.

Threads: the count changes the order of floating-point sums, so a training's numbers follow
it (fp32 included: a two-epoch training traded once on its test split with 2 threads, four
times with 1). The default is therefore fixed for a machine: the physical cores this process
may use (the CPU affinity mask, hyperthread siblings counted once, capped by the cgroup CPU
quota), never a figure of the moment, so the same config on the same machine gives the same
numbers whatever else runs. torch's own default (every logical CPU it sees) would
oversubscribe a container's quota and count hyperthreads twice; no lower cap is set, since
one training runs at a time on a machine (``training_lock``) and the best count for a
model and batch is a benchmark's answer (``num_threads`` sets it).

``num_threads`` ``FOLLOW_LOAD`` (0) is the opt-in to follow the machine's load instead: the
cores other processes leave free (``ml.training.cpu_load``), re-checked after each epoch, and
``busy_threads`` while other runs are in progress. Beside a CPU-bound neighbour it runs
several times faster than a thread per core (0.91x against 0.09x of half the idle rate on 2
cores), at the price of numbers that move with the load.

Precision ``auto``: bf16 where the device computes it natively (a CPU with AVX512-BF16 or
AMX, Arm's BF16; a GPU of compute capability 8 or ROCm), fp32 elsewhere: emulated bf16 is
many times slower than fp32.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch

from resnet_pipeline.ml.training.cpu_load import measure_others_busy, threads_beside
from resnet_pipeline.ml.training.train_config import FOLLOW_LOAD

SYSFS_CPU = Path("/sys/devices/system/cpu")
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "<quota> <period>" or "max ..."
CGROUP_V1_QUOTA = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
CGROUP_V1_PERIOD = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")


def pick_device(requested: str = "auto") -> torch.device:
    if requested != "auto":
        device = torch.device(requested)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device='cuda' was requested but no CUDA GPU is visible; use 'auto'")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def allowed_cpus() -> set[int]:
    """Logical CPUs this process may run on (its affinity mask where the OS has one)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return set(affinity(0)) if affinity else set(range(os.cpu_count() or 1))


def physical_cores(cpus: set[int], sysfs: Path = SYSFS_CPU) -> int:
    """Cores behind ``cpus``: hyperthread siblings (same ``thread_siblings_list``) count once.
    Without topology files every logical CPU counts as a core."""
    cores: set[str] = set()
    for cpu in cpus:
        siblings = sysfs / f"cpu{cpu}" / "topology" / "thread_siblings_list"
        try:
            cores.add(siblings.read_text().strip())
        except OSError:
            cores.add(f"cpu{cpu}")
    return max(len(cores), 1)


def cgroup_cpu_limit(
    cpu_max: Path = CGROUP_CPU_MAX,
    v1_quota: Path = CGROUP_V1_QUOTA,
    v1_period: Path = CGROUP_V1_PERIOD,
) -> float | None:
    """CPUs' worth of time the cgroup grants this process (e.g. 1.5), or None when unlimited."""
    try:
        quota, period = cpu_max.read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota, period = v1_quota.read_text().strip(), v1_period.read_text().strip()
        except OSError:
            return None
    if quota in ("max", "-1"):
        return None
    try:
        return int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None


def default_threads(cpus: set[int] | None = None, quota: float | None = None) -> int:
    """Physical cores available to this process, never more than the cgroup quota allows."""
    cores = physical_cores(allowed_cpus() if cpus is None else cpus)
    if quota is not None:
        cores = min(cores, max(math.floor(quota), 1))
    return max(cores, 1)


def fixed_threads() -> int:
    """The default thread count: :func:`default_threads` of this process's affinity mask and
    cgroup quota, the same whatever else the machine runs; at most ``OMP_NUM_THREADS`` when the
    process was started with one (the OpenMP budget a launcher gives each of several workers
    on one machine, which torch itself starts from)."""
    cores = default_threads(allowed_cpus(), cgroup_cpu_limit())
    budget = os.environ.get("OMP_NUM_THREADS", "")
    return min(cores, int(budget)) if budget.isdigit() and int(budget) > 0 else cores


def threads_for_load(others: float | None) -> int:
    """:func:`fixed_threads` less the cores that ``others`` (CPUs' worth of time other
    processes keep busy, ``ml.training.cpu_load``; None: unknown) take."""
    return threads_beside(fixed_threads(), others, len(allowed_cpus()))


def configure_threads(num_threads: int | None) -> int:
    """Set torch's intra-op threads: ``num_threads``; None: :func:`fixed_threads`;
    ``FOLLOW_LOAD``: the cores this process may use less those other processes are keeping
    busy now (measured for a fifth of a second)."""
    if num_threads is None:
        num_threads = fixed_threads()
    elif num_threads == FOLLOW_LOAD:
        num_threads = threads_for_load(measure_others_busy(allowed_cpus()))
    torch.set_num_threads(max(int(num_threads), 1))
    return torch.get_num_threads()


def resolve_precision(precision: str, device: torch.device, native_bf16: bool | None = None) -> str:
    """``precision`` with 'auto' decided: 'bf16' where ``device`` computes bf16 natively
    (``native_bf16``; None: ask the device), else 'fp32'."""
    if precision != "auto":
        return precision
    if native_bf16 is None:
        native_bf16 = device_has_native_bf16(device)
    return "bf16" if native_bf16 else "fp32"


def device_has_native_bf16(device: torch.device) -> bool:
    """A CUDA GPU of compute capability >= 8 or ROCm; a CPU whose flags name bf16 units."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return cpu_bf16_flag() is True
    return False


def autocast_plan(
    device: torch.device, precision: str, bf16_supported: bool | None = None
) -> tuple[torch.dtype | None, bool]:
    """(autocast dtype or None, whether a GradScaler is needed) for ``precision``;
    ``bf16_supported``: whether the device computes bf16 natively (None: ask it).

    'auto' is bf16 where native, else fp32. fp16 gradients underflow without loss scaling,
    so fp16 always comes with a GradScaler; on a GPU without bf16, 'bf16' runs as fp16 with a
    scaler. fp16 on the CPU is refused (CPU autocast has no loss scaling and no fp16
    speed-up: use bf16).
    """
    if precision == "auto":
        precision = resolve_precision(precision, device, bf16_supported)
    if precision == "fp32":
        return None, False
    if precision not in ("bf16", "fp16"):
        raise ValueError(
            f"precision={precision!r}: use 'auto', 'fp32', 'bf16' or 'fp16' (CUDA only)"
        )
    if device.type != "cuda":
        if precision == "fp16":
            raise ValueError(
                f"precision='fp16' needs a CUDA GPU (this training runs on {device.type}); "
                "use precision 'bf16' or 'fp32'"
            )
        return torch.bfloat16, False
    if bf16_supported is None:
        bf16_supported = device_has_native_bf16(device)
    if precision == "bf16" and bf16_supported:
        return torch.bfloat16, False
    return torch.float16, True


def cpu_bf16_flag(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool | None:
    """Whether this CPU's flags name bf16 units (x86 AVX512-BF16/AMX, Arm's BF16 extension);
    None where the machine does not say (not Linux, no procfs)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return None
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU computes bf16 natively (True when it cannot tell: no warning then).

    Without it CPU autocast to bf16 is emulated: ~28x slower than fp32 measured on an AVX2-only
    AMD EPYC, where the same code was 1.1-1.4x faster than fp32 on a CPU with AVX512-BF16.
    """
    return cpu_bf16_flag(cpuinfo) is not False


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The autocast dtype for ``precision`` ('fp32' -> None: no autocast)."""
    return autocast_plan(device, precision)[0]


def run_threads(requested: int | None, runs_in_progress: int, busy_threads: int = 1) -> int | None:
    """Threads for one run: ``requested`` (None: the fixed default, whatever else runs);
    when it is ``FOLLOW_LOAD``, ``busy_threads`` while other runs share the machine (threads
    of two busy processes thrash each other's cores)."""
    if requested == FOLLOW_LOAD and runs_in_progress > 1:
        return busy_threads
    return requested
