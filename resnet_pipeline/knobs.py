"""Config fields that describe themselves: one declaration gives the default, the allowed
values and the text the Dagster Launchpad shows.

A domain dataclass (``ModelConfig``, ``TrainConfig``, ``FoldConfig``, ...) declares each field
with ``knob``; the assets derive their Dagster config from these fields
(``defs.dagster_config``), so a field added here appears in every asset's config.
``from_data=True`` marks a field whose value comes from the data the model is trained on
(the dataset's window, channels and classes): it is set from the data, never from config.
``resolved_by`` names the part of a flat config that sets a field from its own knobs and the
run's circumstances (the strategy's shorts from ``ShortRules`` and the venue's market): the
flat config offers that part's knobs in its place.

A number's rule is declared with its knob too (``ge``, ``gt``, ``le``, ``lt``; every float
finite), and the dataclass enforces it in ``__post_init__`` with ``check_knobs``: so the
Launchpad, ``--config-json``, the settings built from them and experiment files refuse the
same values with the same words (``allowed``).
"""

from __future__ import annotations

import math
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any

_DESCRIPTION, _CHOICES, _FROM_DATA = "description", "choices", "from_data"
_RESOLVED_BY, _BOUNDS, _NOTE = "resolved_by", "bounds", "note"
_SHOWN_CHARS = 40  # a refused value is quoted at most this long


class KnobError(ValueError):
    """A value outside its knob's rule; ``field`` names the knob."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Bounds:
    """The range a number (or each number of a tuple) must lie in; floats must be finite."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def admits(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        return (
            (self.ge is None or value >= self.ge)
            and (self.gt is None or value > self.gt)
            and (self.le is None or value <= self.le)
            and (self.lt is None or value < self.lt)
        )

    def text(self) -> str:
        """The range in words: ``above 0``, ``in (0, 1]``, ``at least 1``; empty when unbounded."""
        low = ("[", self.ge) if self.ge is not None else ("(", self.gt)
        high = ("]", self.le) if self.le is not None else (")", self.lt)
        if low[1] is not None and high[1] is not None:
            return f"in {low[0]}{_number(low[1])}, {_number(high[1])}{high[0]}"
        if low[1] is not None:
            return f"{'at least' if low[0] == '[' else 'above'} {_number(low[1])}"
        if high[1] is not None:
            return f"{'at most' if high[0] == ']' else 'below'} {_number(high[1])}"
        return ""


def _number(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) and abs(value) >= 10_000 else f"{value:g}"


def knob(
    default: Any,
    description: str,
    *,
    choices: tuple[Any, ...] = (),
    from_data: bool = False,
    resolved_by: type | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    note: str = "",
) -> Any:
    """A dataclass field with its description, allowed values (a fixed set, or a range:
    ``ge`` >=, ``gt`` >, ``le`` <=, ``lt`` <; a tuple's every number) and origin; ``note``:
    what a refusal adds after the rule (the meaning of a special value)."""
    metadata = {
        _DESCRIPTION: description,
        _CHOICES: tuple(choices),
        _FROM_DATA: from_data,
        _RESOLVED_BY: resolved_by,
        _BOUNDS: Bounds(ge=ge, gt=gt, le=le, lt=lt),
        _NOTE: note,
    }
    return field(default=default, metadata=metadata)


def description(spec: Field) -> str:
    text = spec.metadata.get(_DESCRIPTION, "")
    options = choices(spec)
    if options:
        text += ": " + " | ".join("null" if c is None else str(c) for c in options)
    rule = bounds(spec).text()
    if rule:
        text += f" ({rule})"
    return text


def bounds(spec: Field) -> Bounds:
    """The range a number of this knob must lie in (unbounded, finite only, when not set)."""
    return spec.metadata.get(_BOUNDS) or Bounds()


def allowed(spec: Field) -> str:
    """What the knob accepts, in words, for a refusal: the choices, or the range (each number
    of a tuple; null where that is the default)."""
    options = choices(spec)
    if options:
        return "one of " + ", ".join("null" if c is None else str(c) for c in options)
    kind = str(spec.type)
    rule = bounds(spec)
    noun = "whole number" if kind.startswith("int") else "finite number"
    if rule == Bounds(gt=0):
        text = f"a positive {noun}"
    else:
        text = f"a {noun}" + (f" {rule.text()}" if rule.text() else "")
    if kind.startswith("tuple"):
        text = f"a list, each {text}"
    return text + (", or null" if spec.default is None or "None" in kind else "")


def _shown(value: Any) -> str:
    """A value as a file or a config writes it (null, true, [1, 2]), cut to ``_SHOWN_CHARS``."""
    if value is None or isinstance(value, bool):
        text = "null" if value is None else str(value).lower()
    elif isinstance(value, tuple):
        text = repr(list(value))
    else:
        text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def check_knobs(config: Any) -> None:
    """Refuse a value of ``config`` (a dataclass of knobs) outside its knob's rule (``check``)."""
    for spec in fields(config):
        if _DESCRIPTION in spec.metadata:
            check(spec, getattr(config, spec.name))


def check(spec: Field, value: Any) -> None:
    """Refuse ``value`` for the knob ``spec``: a choice not offered, a non-finite number or one
    out of range (each number of a tuple); ``KnobError`` names the field, the value (cut)
    and what is allowed."""
    options = choices(spec)
    if options:
        if value not in options:
            raise KnobError(spec.name, f"{spec.name}={_shown(value)}: use {allowed(spec)}")
        return
    numbers = value if isinstance(value, tuple | list) else (value,)
    rule = bounds(spec)
    for number in numbers:
        if (
            isinstance(number, int | float)
            and not isinstance(number, bool)
            and not rule.admits(number)
        ):
            note = spec.metadata.get(_NOTE)
            raise KnobError(
                spec.name,
                f"{spec.name}={_shown(value)}: use {allowed(spec)} "
                f"(default {_shown(spec.default)})" + (f"; {note}" if note else ""),
            )


def knob_of(part: type, name: str) -> Field:
    """The field ``name`` of the dataclass ``part``."""
    return next(f for f in fields(part) if f.name == name)


def choices(spec: Field) -> tuple[Any, ...]:
    return spec.metadata.get(_CHOICES, ())


def from_data(spec: Field) -> bool:
    return bool(spec.metadata.get(_FROM_DATA, False))


def resolved_by(spec: Field) -> type | None:
    """The dataclass whose knobs set this field in a flat config (None: the field is its own)."""
    return spec.metadata.get(_RESOLVED_BY)


def config_fields(part: type) -> list[Field]:
    """The fields of a domain dataclass that a config sets (``from_data`` ones excluded)."""
    return [f for f in fields(part) if not from_data(f)]


def flat_fields(part: type) -> list[Field]:
    """The fields a flat config offers for ``part``: its config fields less those another
    part resolves (``resolved_by``)."""
    return [f for f in config_fields(part) if resolved_by(f) is None]


def same_as(part: type, name: str) -> Any:
    """A field declared like ``part``'s field ``name`` (default, description, allowed values):
    for a dataclass that shares a knob with another, so the knob is still declared once."""
    spec = knob_of(part, name)
    if spec.default is MISSING:
        raise TypeError(f"{part.__name__}.{name} has no default to share")
    return field(default=spec.default, metadata=dict(spec.metadata))
