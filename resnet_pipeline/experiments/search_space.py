"""The ``search`` section of an experiment file: what a search may propose, read and checked.

```yaml
search:
  space:                                  # section.field: one distribution each
    folds.window: {categorical: [32, 48, 64]}
    training.lr: {log: [1.0e-4, 1.0e-2]}  # log-uniform float (both ends > 0)
    model.dropout: {float: [0.0, 0.5]}    # uniform float; step: optional
    model.blocks: {int: [1, 3]}           # uniform int, both ends included; step: optional
  n_trials: 20            # trials one run of the search adds (grid: its size by default)
  sampler: tpe            # tpe (default), random, or grid (every space entry categorical)
  seed: 0                 # each trial's sampler is seeded with seed + its number
  objective: val_log_loss # or month_log_loss (search_months only)
  pruner: median          # or none
  startup_trials: 5       # completed trials before the median pruner may stop one
  search_months: 2024-02..2024-03   # optional: the months the search picks on
```

A field is any a variant can set (``variant_config.SECTIONS``), checked by resolving the base
with each end of a range and each categorical value. Values are read strictly: YAML 1.1 reads
``1e-4`` (no dot) as text, so a range of it is refused with the spelling that works.

The objective is computed on data the verdict does not score: ``val_log_loss`` is each fold's
validation log loss before temperature scaling (``calibration.val_log_loss_before`` of
fold.json: the windows before the fold's month, comparable across trials whatever their class
weights), averaged over the folds run so far; ``month_log_loss`` is the fold month's own log
loss, allowed only on search months, which the verdict never scores.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from resnet_pipeline.experiments.bounded_yaml import quoted
from resnet_pipeline.experiments.variant_config import (
    SECTIONS,
    VariantConfigError,
    merged,
    resolve_config,
    section_fields,
)

KINDS = ("int", "float", "log", "categorical")
SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "none")
OBJECTIVES = ("val_log_loss", "month_log_loss")
SEARCH_KEYS = (
    "space",
    "n_trials",
    "sampler",
    "seed",
    "objective",
    "pruner",
    "startup_trials",
    "search_months",
)
# Trials of one study: each is a ledger entry, a Dagster partition and a fold per month; the
# names search-000 .. search-999 hold this many. A run of the search adding more is refused.
MAX_SEARCH_TRIALS = 1000
SEARCH_PREFIX = "search-"
# Median pruner default (Optuna's): trials completed before it may stop one.
DEFAULT_STARTUP_TRIALS = 5
# Keys of the file that decide which months and symbols are scored: never searched over.
FILE_KEYS = ("months", "symbols", "search_months", "name", "base", "variants", "grid")


class SearchSpaceError(ValueError):
    """A search section that cannot be used; ``where`` names the field."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


@dataclass(frozen=True)
class Dimension:
    """One searched field: a range (int, float, log) or a list of values (categorical)."""

    section: str
    field: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    choices: tuple[Any, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.section}.{self.field}"

    def checked_values(self) -> list[Any]:
        """The values resolved at check time: both ends of a range, every categorical value."""
        return list(self.choices) if self.kind == "categorical" else [self.low, self.high]

    def suggest(self, trial: Any) -> Any:
        """The value an Optuna trial proposes (``trial.suggest_*``)."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, self.low, self.high, step=self.step or 1)
        return trial.suggest_float(
            self.name, self.low, self.high, step=self.step, log=self.kind == "log"
        )


@dataclass(frozen=True)
class SearchSpec:
    """A file's search: its space over the base, how many trials, how it samples and stops."""

    space: tuple[Dimension, ...]
    base: dict[str, dict[str, Any]]  # the file's base overrides, under every proposal
    n_trials: int
    sampler: str = "tpe"
    seed: int = 0
    objective: str = "val_log_loss"
    pruner: str = "median"
    startup_trials: int = DEFAULT_STARTUP_TRIALS
    months: tuple[date, ...] = field(default=())  # search months; () = the experiment's

    def overrides(self, values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """The base with ``values`` ({section.field: value}) over it: one proposal's variant."""
        proposal: dict[str, dict[str, Any]] = {}
        for name, value in values.items():
            section, field_name = name.split(".", 1)
            proposal.setdefault(section, {})[field_name] = value
        return merged(self.base, proposal)

    def grid(self) -> dict[str, list[Any]]:
        """The grid sampler's space: every dimension's values."""
        return {d.name: list(d.choices) for d in self.space}


def search_name(number: int) -> str:
    """The variant name of the search's trial ``number`` (Optuna's, from 0)."""
    return f"{SEARCH_PREFIX}{number:03d}"


def is_search_name(name: str) -> bool:
    return name.startswith(SEARCH_PREFIX) and name[len(SEARCH_PREFIX) :].isdigit()


def _number(value: Any, where: str, integer: bool) -> float | int:
    if isinstance(value, str):
        hint = " (YAML 1.1 reads 1e-4 as text: write 1.0e-4)" if _floatish(value) else ""
        raise SearchSpaceError(where, f"{quoted(value)} is text, not a number{hint}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SearchSpaceError(where, f"{quoted(value)} is not a number")
    if integer and not isinstance(value, int):
        raise SearchSpaceError(where, f"{quoted(value)} is not an integer: write e.g. [16, 64]")
    if not math.isfinite(value):
        raise SearchSpaceError(where, f"{quoted(value)} is not a finite number")
    return value


def _floatish(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _dimension(name: Any, raw: Any) -> Dimension:
    where = f"search, space, {quoted(name)}"
    if not isinstance(name, str) or name in FILE_KEYS:
        if name in ("months", "symbols", "search_months"):
            raise SearchSpaceError(
                where,
                "changes the scored months or symbols: a search proposes the configuration of "
                "one trial on the experiment's months; to search other months, write another "
                "experiment (each is judged with its own trials counted)",
            )
        raise SearchSpaceError(where, "write section.field, e.g. training.lr")
    section, _, field_name = name.partition(".")
    if section not in SECTIONS or not field_name:
        raise SearchSpaceError(
            where, f"write section.field with a section among {', '.join(SECTIONS)}"
        )
    known = section_fields(section)
    if field_name not in known:
        raise SearchSpaceError(
            where,
            f"not a field a variant can set; the fields of {section} are "
            f"{', '.join(sorted(known))}",
        )
    example = "{log: [1.0e-4, 1.0e-2]} or {categorical: [32, 48, 64]}"
    if not isinstance(raw, Mapping):
        raise SearchSpaceError(where, f"give one distribution, e.g. {example}")
    kinds = [k for k in raw if k in KINDS]
    extra = [k for k in raw if k not in (*KINDS, "step")]
    if len(kinds) != 1 or extra:
        raise SearchSpaceError(
            where,
            f"{quoted(dict(raw))}: give exactly one of {', '.join(KINDS)} (and step for int or "
            f"float), e.g. {example}",
        )
    kind, values = kinds[0], raw[kinds[0]]
    if kind == "categorical":
        return _categorical(section, field_name, values, where, raw)
    if not isinstance(values, list) or len(values) != 2:
        raise SearchSpaceError(where, f"{kind}: give [low, high], e.g. {kind}: [16, 64]")
    low, high = (_number(v, f"{where}, {kind}", kind == "int") for v in values)
    if not low < high:
        state = "empty" if low == high else "inverted"
        raise SearchSpaceError(
            where, f"the range [{low}, {high}] is {state}: write [low, high] with low < high"
        )
    if kind == "log" and low <= 0:
        raise SearchSpaceError(
            where,
            f"a log range must stay above 0 ([{low}, {high}] touches it): start at a small "
            "positive value, e.g. 1.0e-5, or use float",
        )
    step = raw.get("step")
    if step is not None:
        if kind == "log":
            raise SearchSpaceError(where, "a log range takes no step: use float with a step")
        step = _number(step, f"{where}, step", kind == "int")
        if step <= 0 or step > high - low:
            raise SearchSpaceError(where, f"step {step} must be > 0 and at most high - low")
    return Dimension(section, field_name, kind, low, high, step)


def _categorical(section: str, name: str, values: Any, where: str, raw: Mapping) -> Dimension:
    if "step" in raw:
        raise SearchSpaceError(where, "a categorical takes no step")
    if not isinstance(values, list) or len(values) < 2:
        raise SearchSpaceError(
            where,
            f"categorical {quoted(values)}: give at least two values to choose from (one value "
            "is no search: set it in base)",
        )
    for value in values:
        if value is not None and not isinstance(value, bool | int | float | str):
            raise SearchSpaceError(
                where,
                f"{quoted(value)}: a categorical value is a number, text, true/false or null "
                "(a list cannot be searched: write variants for it)",
            )
    if len(set(map(repr, values))) != len(values):
        raise SearchSpaceError(where, f"a value is listed twice in {quoted(values)}")
    return Dimension(section, name, "categorical", choices=tuple(values))


def _choice(raw: Mapping, key: str, allowed: tuple[str, ...]) -> str:
    value = raw.get(key, allowed[0])
    if value not in allowed:
        raise SearchSpaceError(
            f"search, {key}", f"{quoted(value)}: one of {', '.join(allowed)} (default {allowed[0]})"
        )
    return value


def _count(raw: Mapping, key: str, default: int | None, low: int, high: int) -> int:
    value = raw.get(key, default)
    if value is None:
        raise SearchSpaceError(f"search, {key}", f"missing: how many trials to run, e.g. {key}: 20")
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SearchSpaceError(
            f"search, {key}", f"{quoted(value)}: give a whole number from {low} to {high:,}"
        )
    return value


def parse_search(
    raw: Any,
    base: dict[str, dict[str, Any]],
    market: str,
    months: tuple[date, ...],
) -> SearchSpec:
    """The search a file's ``search`` section describes (``search_months`` read already, as
    ``months``); ``SearchSpaceError`` names the field and the fix."""
    if not isinstance(raw, Mapping):
        raise SearchSpaceError("search", "give a mapping with space and n_trials")
    unknown = [k for k in raw if k not in SEARCH_KEYS]
    if unknown:
        raise SearchSpaceError(
            "search", f"unknown key(s) {quoted(unknown)}: use {', '.join(SEARCH_KEYS)}"
        )
    space_raw = raw.get("space")
    if not isinstance(space_raw, Mapping) or not space_raw:
        raise SearchSpaceError(
            "search, space", "give the fields to search, e.g. training.lr: {log: [1.0e-4, 1.0e-2]}"
        )
    space = tuple(_dimension(name, values) for name, values in space_raw.items())
    for dimension in space:
        for value in dimension.checked_values():
            overrides = merged(base, {dimension.section: {dimension.field: value}})
            try:
                resolve_config(overrides, market)
            except VariantConfigError as error:
                raise SearchSpaceError(
                    f"search, space, {dimension.name}", f"the value {quoted(value)}: {error}"
                ) from None
    sampler = _choice(raw, "sampler", SAMPLERS)
    grid_size = None
    if sampler == "grid":
        ranges = [d.name for d in space if d.kind != "categorical"]
        if ranges:
            raise SearchSpaceError(
                "search, sampler",
                f"grid samples categoricals only; {', '.join(ranges)} is a range: list its "
                "values as categorical, or use tpe or random",
            )
        grid_size = math.prod(len(d.choices) for d in space)
    n_trials = _count(raw, "n_trials", grid_size, 1, MAX_SEARCH_TRIALS)
    if grid_size is not None and n_trials > grid_size:
        raise SearchSpaceError(
            "search, n_trials",
            f"{n_trials} is more than the grid's {grid_size} combinations: lower it or add values",
        )
    objective = _choice(raw, "objective", OBJECTIVES)
    if objective == "month_log_loss" and not months:
        raise SearchSpaceError(
            "search, objective",
            "month_log_loss scores the fold months, which the verdict scores too: set "
            "search_months (the earlier months the search picks on) or use val_log_loss",
        )
    return SearchSpec(
        space=space,
        base=base,
        n_trials=n_trials,
        sampler=sampler,
        seed=_count(raw, "seed", 0, 0, 2**31 - 1),
        objective=objective,
        pruner=_choice(raw, "pruner", PRUNERS),
        startup_trials=_count(raw, "startup_trials", DEFAULT_STARTUP_TRIALS, 0, MAX_SEARCH_TRIALS),
        months=months,
    )
