"""What a report's result rests on, in words: the strategy's rules (threshold, sizing,
holding, exits, costs) and the training budget of the model(s) behind it, and the one-line
difference between two such settings (why one report's result differs from another's).

The phrases are derived from ``StrategyConfig``'s fields: the rules that read well as one
phrase have one (a stop with its distance, a sizing with its share), every other field is
"name value", so a field added to the config is shown without a change here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from resnet_pipeline.knobs import config_fields
from resnet_pipeline.ml.training.train_config import TrainConfig
from resnet_pipeline.number_format import count, minutes, number, percent, short
from resnet_pipeline.trading.strategy import StrategyConfig


def _threshold(cfg: StrategyConfig) -> str:
    return f"threshold {short(cfg.threshold)}"


def _sizing(cfg: StrategyConfig) -> str:
    if cfg.sizing == "fixed":
        return (
            "full size" if cfg.fixed_fraction == 1 else f"fixed size {percent(cfg.fixed_fraction)}"
        )
    return f"Kelly size up to {percent(cfg.kelly_cap)}"


def _stop(cfg: StrategyConfig) -> str:
    if cfg.stop == "fixed":
        return f"stop {percent(cfg.stop_pct)} from entry"
    if cfg.stop == "atr":
        return f"stop {short(cfg.atr_mult)} ATR from entry"
    return f"trailing stop {short(cfg.trail_atr_mult)} ATR"


def _take_profit(cfg: StrategyConfig) -> str:
    tp = cfg.take_profit
    return "no take-profit" if tp is None else f"take-profit {percent(tp)}"


def _reversal(cfg: StrategyConfig) -> str:
    return "reversal exit" if cfg.exit_on_reversal else "no reversal exit"


def _confidence(cfg: StrategyConfig) -> str:
    level = cfg.exit_confidence
    return "no confidence exit" if level is None else f"confidence exit below {short(level)}"


def _hold(cfg: StrategyConfig) -> str:
    return f"{minutes(cfg.max_hold_minutes)} hold at most"


def _drawdown(cfg: StrategyConfig) -> str:
    return (
        f"half size after a {percent(cfg.daily_drawdown_halve)} day, no trades after a "
        f"{percent(cfg.weekly_drawdown_stop)} week"
    )


def _costs(cfg: StrategyConfig) -> str:
    return f"fees {percent(cfg.fee_rate)} + slippage {short(cfg.slippage_bps)} bps per fill"


def _shorts(cfg: StrategyConfig) -> str:
    if not cfg.allow_short:
        return "long only"
    borrow = cfg.borrow_fee_per_day
    return f"shorts (borrow {percent(borrow)} a day)" if borrow else "shorts"


def _equity(cfg: StrategyConfig) -> str:
    return f"starting equity {number(cfg.initial_equity)}"


# (the fields a phrase reads, the phrase); the phrase of a rule comes first in the order of
# its first field in StrategyConfig.
PHRASES: tuple[tuple[tuple[str, ...], Callable[[StrategyConfig], str]], ...] = (
    (("threshold",), _threshold),
    (("sizing", "kelly_cap", "fixed_fraction"), _sizing),
    (("max_hold_minutes",), _hold),
    (("exit_confidence",), _confidence),
    (("exit_on_reversal",), _reversal),
    (("stop", "stop_pct", "atr_mult", "trail_atr_mult"), _stop),
    (("take_profit",), _take_profit),
    (("allow_short", "borrow_fee_per_day"), _shorts),
    (("fee_rate", "slippage_bps"), _costs),
    (("daily_drawdown_halve", "weekly_drawdown_stop"), _drawdown),
    (("initial_equity",), _equity),
)


def strategy_phrases(cfg: StrategyConfig) -> dict[tuple[str, ...], str]:
    """{the fields read: phrase} for every field of ``cfg``: a rule's phrase, else
    'name value'."""
    covered = {name for names, _ in PHRASES for name in names}
    out = {names: phrase(cfg) for names, phrase in PHRASES}
    for spec in config_fields(type(cfg)):
        if spec.name not in covered:
            out[(spec.name,)] = f"{spec.name.replace('_', ' ')} {short(getattr(cfg, spec.name))}"
    return out


def strategy_line(cfg: StrategyConfig) -> str:
    return ", ".join(strategy_phrases(cfg).values())


def _span(values: Sequence[int]) -> str:
    low, high = min(values), max(values)
    return f"{low:,}" if low == high else f"{low:,}-{high:,}"


@dataclass(frozen=True)
class TrainingBudget:
    """The training a result rests on: per model (one per fold; the main job: one), the
    epochs it trained, its training windows and the windows drawn per epoch; ``max_epochs``:
    the configured limit (None: not recorded)."""

    epochs: tuple[int, ...]
    training_windows: tuple[int, ...]
    windows_per_epoch: tuple[int, ...] = ()
    max_epochs: int | None = None

    def line(self) -> str:
        models = len(self.epochs)
        if not models:
            return "no model trained"
        limit = f" (at most {self.max_epochs})" if self.max_epochs else ""
        epochs = f"{_span(self.epochs)} epoch{'s' if max(self.epochs) != 1 else ''}{limit}"
        if self.windows_per_epoch == self.training_windows:
            data = f"all of {_span(self.training_windows)} training windows each epoch"
        elif self.windows_per_epoch:
            data = (
                f"{_span(self.windows_per_epoch)} windows per epoch, drawn from "
                f"{_span(self.training_windows)} training windows"
            )
        else:
            data = f"{_span(self.training_windows)} training windows"
        who = "one model" if models == 1 else f"{count(models, 'model')} (one per month), each"
        return f"{who} trained {epochs} on {data}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainingBudget:
        known = {f.name for f in fields(cls)}
        return cls(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in known}
        )

    @classmethod
    def of_models(
        cls, epochs: Sequence[int], training_windows: Sequence[int], train_config: Mapping | None
    ) -> TrainingBudget:
        """From each model's epochs and training windows and the ``TrainConfig`` (as a
        dict) they trained with: the windows each epoch drew follow from it."""
        train = _train_config(train_config)
        per_epoch = tuple(train.epoch_samples(n) for n in training_windows) if train else ()
        return cls(
            tuple(int(e) for e in epochs),
            tuple(int(n) for n in training_windows),
            per_epoch,
            train.epochs if train else None,
        )


def _train_config(values: Mapping | None) -> TrainConfig | None:
    """A recorded TrainConfig dict as the dataclass (None when absent or no longer valid)."""
    if not values:
        return None
    known = {f.name for f in fields(TrainConfig)}
    try:
        return TrainConfig(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in known}
        )
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class RunSettings:
    """What one report's result rests on: its strategy, the training behind it and the
    period it covers."""

    strategy: StrategyConfig
    training: TrainingBudget | None = None
    period: str = ""

    def lines(self) -> list[str]:
        out = [f"Strategy: {strategy_line(self.strategy)}."]
        if self.training is not None:
            out.append(f"Training: {self.training.line()}.")
        if self.period:
            out.append(f"Period: {self.period}.")
        return out

    def to_dict(self) -> dict:
        return {
            "strategy": self.strategy.to_dict(),
            "training": None if self.training is None else self.training.to_dict(),
            "period": self.period,
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RunSettings:
        training = values.get("training")
        return cls(
            StrategyConfig(**values["strategy"]),
            None if training is None else TrainingBudget.from_dict(training),
            values.get("period", ""),
        )


def settings_difference(
    this: RunSettings, other: RunSettings, this_name: str, other_name: str
) -> str:
    """One line: what ``other`` uses where it differs from ``this``, then what ``this``
    uses there, e.g. "the experiment uses threshold 0.7, full size; this job threshold 0.55,
    Kelly size up to 25%". Only differences that change a phrase count (a Kelly cap under
    fixed sizing changes nothing); equal settings say so."""
    theirs, ours = _phrases(other), _phrases(this)
    differs = [key for key in ours if key in theirs and ours[key] != theirs[key]]
    if not differs:
        return f"{other_name} and {this_name} use the same strategy and training settings"
    their_words = ", ".join(theirs[key] for key in differs)
    our_words = ", ".join(ours[key] for key in differs)
    return f"{other_name} uses {their_words}; {this_name} {our_words}"


def _phrases(settings: RunSettings) -> dict[tuple[str, ...], str]:
    """The strategy's phrases, then the training's and the period's (when known)."""
    out = strategy_phrases(settings.strategy)
    if settings.training is not None:
        out[("training",)] = settings.training.line()
    if settings.period:
        out[("period",)] = f"the period {settings.period}"
    return out
