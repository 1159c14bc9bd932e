"""Dagster config classes derived from the domain's config dataclasses, never written by hand.

Flat, not nested: the fields of every part sit side by side at the top of the asset's config,
so a run config stays what users write (``{"epochs": 3, "max_train_samples": 2000}``) and the
Launchpad shows one list. The price is that field names must be unique across the parts of
one config: a clash fails when the definitions load. Fields marked ``from_data`` (``knobs``)
come from the data the model trains on and are never part of a config; fields marked
``resolved_by`` are set by another part of the same config (which must be one of its parts),
so the config offers that part's knobs instead. Defaults, the check of
each value and the description shown in the UI come from the dataclass field; tuples become
lists (Dagster config has no tuples).
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import types
import typing
from typing import Any

import dagster as dg
from pydantic import Field, create_model

from resnet_pipeline import knobs
from resnet_pipeline.knobs import config_fields, flat_fields

__all__ = ["config_fields", "dagster_config", "flat_fields", "part_of"]


def _config_type(hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple:
        return list[typing.get_args(hint)[0]]
    if origin in (typing.Union, types.UnionType):
        return functools.reduce(operator.or_, [_config_type(a) for a in typing.get_args(hint)])
    return hint


def _config_default(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def dagster_config(
    name: str, module: str, doc: str, *parts: type, base: type[dg.Config] = dg.Config
) -> type[dg.Config]:
    """One flat config over the config fields of ``parts`` (domain dataclasses), beside the
    fields of ``base``; ``module`` is where it is assigned to ``name`` (so it pickles)."""
    definitions: dict[str, Any] = {}
    owners: dict[str, str] = {k: base.__name__ for k in base.model_fields}
    for part in parts:
        for spec in config_fields(part):
            resolver = knobs.resolved_by(spec)
            if resolver is not None and resolver not in parts:
                raise TypeError(
                    f"{name}: {part.__name__}.{spec.name} is set by {resolver.__name__}: add "
                    f"{resolver.__name__} to the parts of the config"
                )
        hints = typing.get_type_hints(part)
        for spec in flat_fields(part):
            if spec.name in owners:
                raise TypeError(
                    f"{name}: field {spec.name!r} is declared by both {owners[spec.name]} and "
                    f"{part.__name__}: rename one (a flat config needs unique names)"
                )
            owners[spec.name] = part.__name__
            definitions[spec.name] = (
                _config_type(hints[spec.name]),
                Field(default=_config_default(spec.default), description=knobs.description(spec)),
            )
    return create_model(name, __base__=base, __doc__=doc, __module__=module, **definitions)


def part_of(part: type, config: dg.Config, **from_data: Any) -> Any:
    """The domain dataclass ``part`` built from ``config`` (plus its ``from_data`` fields and
    those another part resolves); its own checks run here, raising ``ValueError`` naming the
    field."""
    offered = {f.name for f in flat_fields(part)}
    wanted = {f.name for f in dataclasses.fields(part)} - offered
    if set(from_data) != wanted:
        raise TypeError(
            f"{part.__name__} takes {sorted(wanted)} from the data or another part, got {from_data}"
        )
    values = {f.name: getattr(config, f.name) for f in flat_fields(part)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return part(**values, **from_data)
