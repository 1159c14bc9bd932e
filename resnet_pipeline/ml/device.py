"""Where training runs: a GPU when there is one, else the CPU with a sensible thread count."""

from __future__ import annotations

import os

import torch


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


def configure_threads(num_threads: int | None) -> int:
    """Use every core unless told otherwise (torch's default may count hyperthreads or less)."""
    if num_threads is None:
        affinity = getattr(os, "sched_getaffinity", None)
        num_threads = len(affinity(0)) if affinity else (os.cpu_count() or 1)
    torch.set_num_threads(max(int(num_threads), 1))
    return torch.get_num_threads()


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The autocast dtype for ``precision`` ('fp32' -> None: no autocast)."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            return torch.float16
        return torch.bfloat16
    raise ValueError(f"precision={precision!r}: use 'fp32' or 'bf16'")
