"""Whether a walk-forward fold fine-tunes the previous month's model: knobs only, without
torch (an experiment file is checked against them in a light process)."""

from __future__ import annotations

from dataclasses import dataclass

from resnet_pipeline.knobs import check_knobs, knob


@dataclass(frozen=True)
class WarmStart:
    """Whether a fold starts from the previous month's fold model, and for how long."""

    warm_start: bool = knob(
        False,
        "fine-tune month M-1's fold model for warm_start_epochs instead of training from "
        "scratch (cold when M-1 has no model or another architecture)",
    )
    warm_start_epochs: int = knob(3, "epochs of a warm-started fold", ge=1)

    def __post_init__(self) -> None:
        check_knobs(self)
