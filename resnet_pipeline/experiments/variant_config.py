"""The one typed configuration a variant overrides, in the sections an experiment file uses.

Each section is made of the domain's own config dataclasses, so every knob they declare can be
set per variant and none is listed twice:

| section | dataclasses | what |
|---|---|---|
| ``features`` | ``FeatureConfig`` | the channels the model sees (SPEC 4, channel families) |
| ``labels`` | ``LabelConfig`` | horizon, fixed or volatility-scaled threshold (SPEC 5, 14) |
| ``model`` | ``ModelConfig`` | architecture (the window comes from ``folds``) |
| ``training`` | ``TrainConfig``, ``RunOptions`` | SPEC 8 training and the run's switches |
| ``folds`` | ``FoldConfig``, ``WarmStart`` | the walk-forward's data and warm start (SPEC 13) |
| ``strategy`` | ``StrategyConfig`` | the SPEC 9 rules of the backtest |
| ``calibration`` | ``CalibrationConfig`` | whether the strategy reads calibrated probabilities |
| ``importance`` | ``ImportanceConfig`` | each fold's permutation importances |

A value is checked against the field's type hint (pydantic), then the dataclass runs its own
checks. Fields the data sets (``knobs`` ``from_data``: the model's channels and classes)
are not settable; the model's input width is the ``features`` section's channel count.
Shorts follow the market unless a variant says otherwise: spot long-only, a linear perpetual
shorts (``trading.strategy.short_rules``, as ``backtest_report``).

The resolved configuration, section by section with every field (defaults included), is the
variant's identity: its ``config_hash`` (``tracking.config_hash``) names its trial, so the same
configuration is the same trial and any change, a default changed in code included, is another.
"""

from __future__ import annotations

import functools
import operator
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from pydantic import TypeAdapter, ValidationError

from resnet_pipeline.features.feature_config import FeatureConfig
from resnet_pipeline.features.labels import CLASS_NAMES, LabelConfig
from resnet_pipeline.knobs import KnobError, check, config_fields, knob, knob_of
from resnet_pipeline.ml.data.normalization import price_channels_problem
from resnet_pipeline.ml.evaluation.importance_config import ImportanceConfig
from resnet_pipeline.ml.folds.monthly_folds import FoldConfig
from resnet_pipeline.ml.folds.warm_start import WarmStart
from resnet_pipeline.ml.model.model_config import ModelConfig
from resnet_pipeline.ml.training.train_config import RunOptions, TrainConfig
from resnet_pipeline.tracking import config_hash
from resnet_pipeline.trading.strategy import SPOT_BORROW_FEE_PER_DAY, StrategyConfig, short_rules


@dataclass(frozen=True)
class CalibrationConfig:
    calibrated_strategy: bool = knob(
        True,
        "the strategy's threshold and Kelly size read temperature-scaled probabilities "
        "(false: the model's raw softmax); Kelly sizing is only sound on calibrated ones",
    )


SECTIONS: dict[str, tuple[type, ...]] = {
    "features": (FeatureConfig,),
    "labels": (LabelConfig,),
    "model": (ModelConfig,),
    "training": (TrainConfig, RunOptions),
    "folds": (FoldConfig, WarmStart),
    "strategy": (StrategyConfig,),
    "calibration": (CalibrationConfig,),
    "importance": (ImportanceConfig,),
}


class VariantConfigError(ValueError):
    """A section or field a variant sets cannot be used; ``section`` and ``field`` name it."""

    def __init__(self, section: str, field: str | None, message: str) -> None:
        super().__init__(message)
        self.section = section
        self.field = field


@dataclass(frozen=True)
class VariantConfig:
    """Every part of one variant, resolved: what a walk-forward of it trains and trades with."""

    features: FeatureConfig
    labels: LabelConfig
    model: ModelConfig
    train: TrainConfig
    run: RunOptions
    folds: FoldConfig
    warm: WarmStart
    strategy: StrategyConfig
    calibration: CalibrationConfig
    importance: ImportanceConfig

    def sections(self) -> dict[str, dict[str, Any]]:
        """{section: {field: value}} with every settable field: the recorded configuration."""
        parts = {type(p): p for p in vars(self).values()}
        return {
            section: {
                spec.name: _plain(getattr(parts[cls], spec.name))
                for cls in classes
                for spec in config_fields(cls)
            }
            for section, classes in SECTIONS.items()
        }

    @functools.cached_property
    def config_hash(self) -> str:
        return config_hash(self.sections())


@functools.cache
def section_fields(section: str) -> dict[str, tuple[type, Any]]:
    """{field: (owning dataclass, type hint)} of a section, derived from its dataclasses."""
    out: dict[str, tuple[type, Any]] = {}
    for cls in SECTIONS[section]:
        hints = typing.get_type_hints(cls)
        for spec in config_fields(cls):
            out[spec.name] = (cls, hints[spec.name])
    return out


@functools.cache
def _adapter(hint: Any) -> TypeAdapter:
    """The validator of a field's values (built once: a grid checks the same fields often)."""
    return TypeAdapter(_as_read(hint))


def _as_read(hint: Any) -> Any:
    """The type a YAML value of a field with this hint must have: tuples are read as lists.
    Checked strictly, so ``yes`` (a bool) or ``2.5`` is no epoch count and ``"3"`` no number."""
    origin = typing.get_origin(hint)
    if origin is tuple:
        return list[typing.get_args(hint)[0]]
    if origin in (typing.Union, types.UnionType):
        return functools.reduce(operator.or_, [_as_read(a) for a in typing.get_args(hint)])
    return hint


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _typed(section: str, values: Mapping[str, Any]) -> dict[type, dict[str, Any]]:
    """Each value checked against its field's type, grouped by owning dataclass."""
    if section not in SECTIONS:
        raise VariantConfigError(
            section,
            None,
            f"unknown section {section!r}: the sections are {', '.join(SECTIONS)}",
        )
    if not isinstance(values, Mapping):
        raise VariantConfigError(
            section,
            None,
            f"section {section!r} is a {type(values).__name__}: give a mapping of field: value",
        )
    known = section_fields(section)
    grouped: dict[type, dict[str, Any]] = {cls: {} for cls in SECTIONS[section]}
    for name, value in values.items():
        if name not in known:
            data = any(name in {f.name for f in fields(cls)} for cls in SECTIONS[section])
            why = "the data sets it (the window is folds.window)" if data else "not a field"
            raise VariantConfigError(
                section,
                str(name),
                f"{section}.{name}: {why}; the fields of {section} are {', '.join(sorted(known))}",
            )
        cls, hint = known[name]
        try:
            checked = _adapter(hint).validate_python(value, strict=True)
        except ValidationError as error:
            problem = error.errors()[0]["msg"]
            raise VariantConfigError(
                section,
                name,
                f"{section}.{name} = {value!r}: {problem} (the field's type is "
                f"{getattr(hint, '__name__', hint)})",
            ) from None
        grouped[cls][name] = tuple(checked) if isinstance(checked, list) else checked
    return grouped


def _build(section: str, cls: type, values: dict[str, Any], **data: Any) -> Any:
    try:
        return cls(**values, **data)
    except KnobError as error:
        raise VariantConfigError(section, error.field, f"{section}.{error}") from None
    except (ValueError, TypeError) as error:
        field = next((k for k in values if k in str(error)), None)
        raise VariantConfigError(section, field, f"{section}: {error}") from None


def _training(values: dict[str, Any]) -> TrainConfig:
    """The SPEC 8 training; class weights, when given, one per label class."""
    train = _build("training", TrainConfig, values)
    weights = train.class_weights
    if weights is not None and len(weights) != len(CLASS_NAMES):
        raise VariantConfigError(
            "training",
            "class_weights",
            f"training.class_weights={list(weights)}: give one weight per class "
            f"({', '.join(CLASS_NAMES)}), e.g. [1.2, 0.8, 1.2], or null for equal weights",
        )
    return train


def _strategy(values: dict[str, Any], market: str) -> StrategyConfig:
    """The SPEC 9 rules; shorts and their borrowing cost follow ``market`` unless set."""
    borrow = values.pop("borrow_fee_per_day", SPOT_BORROW_FEE_PER_DAY)
    try:
        check(knob_of(StrategyConfig, "borrow_fee_per_day"), borrow)  # even where unused
    except KnobError as error:
        raise VariantConfigError("strategy", error.field, f"strategy.{error}") from None
    try:
        shorts = short_rules(market, values.pop("allow_short", None), borrow)
    except ValueError as error:
        raise VariantConfigError("strategy", None, f"strategy: {error}") from None
    return _build("strategy", StrategyConfig, values | shorts)


def resolve_config(
    overrides: Mapping[str, Mapping[str, Any]], market: str = "spot"
) -> VariantConfig:
    """The full configuration from partial ``overrides`` ({section: {field: value}}) on the
    defaults; ``VariantConfigError`` names the section and field that cannot be used."""
    for section in overrides:
        _typed(section, {})  # an unknown section first, before any of its fields
    typed = {section: _typed(section, overrides.get(section) or {}) for section in SECTIONS}
    labels = _build("labels", LabelConfig, typed["labels"][LabelConfig])
    folds = _build("folds", FoldConfig, typed["folds"][FoldConfig])
    try:
        folds.split_config(labels.forward_window)  # the purge covers this variant's horizon
    except ValueError as error:
        raise VariantConfigError("folds", "purge_minutes", f"folds: {error}") from None
    features = _build("features", FeatureConfig, typed["features"][FeatureConfig])
    unnormalized = price_channels_problem(features.channels, folds.price_norm)
    if unnormalized:
        raise VariantConfigError("features", "channels", f"features.channels: {unnormalized}")
    data = {"in_channels": len(features.channels), "num_classes": len(CLASS_NAMES)}
    model_values = typed["model"][ModelConfig]
    try:
        model = _build("model", ModelConfig, model_values, window=folds.window, **data)
    except VariantConfigError as error:
        if error.field != "window":
            raise
        raise VariantConfigError(
            "folds", "window", f"folds.{str(error).split('.', 1)[1]}"
        ) from None
    return VariantConfig(
        features=features,
        labels=labels,
        model=model,
        train=_training(typed["training"][TrainConfig]),
        run=_build("training", RunOptions, typed["training"][RunOptions]),
        folds=folds,
        warm=_build("folds", WarmStart, typed["folds"][WarmStart]),
        strategy=_strategy(dict(typed["strategy"][StrategyConfig]), market),
        calibration=_build(
            "calibration", CalibrationConfig, typed["calibration"][CalibrationConfig]
        ),
        importance=_build("importance", ImportanceConfig, typed["importance"][ImportanceConfig]),
    )


def merged(base: Mapping[str, Mapping[str, Any]], variant: Mapping[str, Mapping[str, Any]]):
    """``variant``'s fields over ``base``'s, section by section."""
    out = {section: dict(values or {}) for section, values in base.items()}
    for section, values in variant.items():
        if isinstance(values, Mapping) and isinstance(out.get(section), dict):
            out[section] |= dict(values)
        else:
            out[section] = values
    return out
