"""How many bootstrap resamples the reports' 95% intervals draw: knobs only, without the
statistics libraries (the command line checks ``--n-boot`` before anything runs)."""

from __future__ import annotations

from dataclasses import dataclass

from resnet_pipeline.knobs import check_knobs, knob

# A 95% percentile interval needs draws in both 2.5% tails; every resample recomputes the
# metrics over all predicted minutes, so the cost grows linearly with n_boot.
MIN_RESAMPLES, MAX_RESAMPLES = 100, 100_000


@dataclass(frozen=True)
class BootstrapConfig:
    n_boot: int = knob(
        1000,
        "bootstrap resamples for the 95% intervals",
        ge=MIN_RESAMPLES,
        le=MAX_RESAMPLES,
        note="fewer cannot place the 2.5% and 97.5% percentiles of the 95% intervals, more "
        "take hours and gigabytes of memory",
    )
    bootstrap_seed: int = knob(0, "seed of the resampling", ge=0, le=2**32 - 1)

    def __post_init__(self) -> None:
        check_knobs(self)
