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
"""

from __future__ import annotations

from dataclasses import MISSING, Field, field, fields
from typing import Any

_DESCRIPTION, _CHOICES, _FROM_DATA = "description", "choices", "from_data"
_RESOLVED_BY = "resolved_by"


def knob(
    default: Any,
    description: str,
    *,
    choices: tuple[Any, ...] = (),
    from_data: bool = False,
    resolved_by: type | None = None,
) -> Any:
    """A dataclass field with its description, allowed values (when a fixed set) and origin."""
    metadata = {
        _DESCRIPTION: description,
        _CHOICES: tuple(choices),
        _FROM_DATA: from_data,
        _RESOLVED_BY: resolved_by,
    }
    return field(default=default, metadata=metadata)


def description(spec: Field) -> str:
    text = spec.metadata.get(_DESCRIPTION, "")
    options = choices(spec)
    if options:
        text += ": " + " | ".join("null" if c is None else str(c) for c in options)
    return text


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
    spec = next(f for f in fields(part) if f.name == name)
    if spec.default is MISSING:
        raise TypeError(f"{part.__name__}.{name} has no default to share")
    return field(default=spec.default, metadata=dict(spec.metadata))
