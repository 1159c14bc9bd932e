"""How a fold measures what its model looks at (``permutation_importance``): knobs only,
without the model libraries, so an experiment file is checked without importing torch."""

from __future__ import annotations

from dataclasses import dataclass

from resnet_pipeline.knobs import check_knobs, knob


@dataclass(frozen=True)
class ImportanceConfig:
    measure_importance: bool = knob(
        True,
        "measure each fold's permutation importances on its predicted month",
        note="false saves their cost (see importance_windows) and leaves the report without them",
    )
    importance_shuffles: int = knob(
        3, "seeded shuffles per channel and family; their drops are averaged", ge=1, le=100
    )
    importance_windows: int | None = knob(
        2_000,
        "the month's windows the importances are measured on: a seeded sample of at most "
        "this many (null: all)",
        ge=100,
        note="the cost is one prediction of these windows per shuffle of each channel and family",
    )

    def __post_init__(self) -> None:
        check_knobs(self)
