"""The configuration reference, generated from the code so that no default is written by hand.

``python -m resnet_pipeline.config_reference`` writes ``docs/config-reference.md``:
every config dataclass in ``CONFIG_CLASSES`` (field, default, allowed values and range,
description, all read from the fields' ``knobs.knob`` metadata and type hints), what each
asset's run config is made of (read from the loaded definitions), and the environment
variables the settings and the executor read (names and defaults recorded while they read an
empty environment).
``resnet_pipeline_tests/test_config_reference.py`` fails when the file is stale.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, Field, dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any

from resnet_pipeline import executors, knobs, settings
from resnet_pipeline.experiments.variant_config import SECTIONS, CalibrationConfig
from resnet_pipeline.experiments.verdict_report import TrialTests
from resnet_pipeline.features.feature_config import FeatureConfig
from resnet_pipeline.features.labels import LabelConfig
from resnet_pipeline.ml.data.splits import SplitConfig
from resnet_pipeline.ml.evaluation.bootstrap_config import BootstrapConfig
from resnet_pipeline.ml.evaluation.importance_config import ImportanceConfig
from resnet_pipeline.ml.folds.monthly_folds import FoldConfig
from resnet_pipeline.ml.folds.warm_start import WarmStart
from resnet_pipeline.ml.model.model_config import ModelConfig
from resnet_pipeline.ml.training.train_config import RunOptions, TrainConfig
from resnet_pipeline.trading.strategy import ShortRules, StrategyConfig

# Every config dataclass a user can set, in the order the reference shows them.
CONFIG_CLASSES: tuple[type, ...] = (
    ModelConfig,
    TrainConfig,
    RunOptions,
    SplitConfig,
    FeatureConfig,
    FoldConfig,
    WarmStart,
    LabelConfig,
    StrategyConfig,
    ShortRules,
    CalibrationConfig,
    ImportanceConfig,
    BootstrapConfig,
    TrialTests,
)

REFERENCE_PATH = Path(__file__).resolve().parents[1] / "docs" / "config-reference.md"
COMMAND = "python -m resnet_pipeline.config_reference"

# What each variable is for. Names and defaults come from the code (``variables``); this
# table holds only the sentences, and the test fails when it and the code disagree on names.
VARIABLE_MEANINGS: dict[str, str] = {
    "RESNET_DATA_DIR": "storage root of every artifact: a directory, or an fsspec URL such as "
    "`s3://bucket/prefix` (see [scaling out](scaling-out.md))",
    "RESNET_SYMBOLS": "comma-separated symbols in the exchange's spelling; adding one needs no "
    "code change",
    "RESNET_FIRST_MONTH": "first month partition (`YYYY-MM`); the last is the running month "
    "(`files`: the newest month the file names or the files index tell)",
    "RESNET_SOURCE": "where candles come from: `bybit`, `synthetic` (offline) or `files` "
    "(see [candle sources](candle-sources.md))",
    "BYBIT_BASE_URL": "API origin override, e.g. `http://127.0.0.1:8080`; credentials in it are "
    "sent as HTTP basic auth and never shown",
    "RESNET_BYBIT_MARKET": "`spot` (BTC/USDT, long-only unless a config allows shorts) or "
    "`linear` (BTC/USDT:USDT perpetual); reaches the backtests and the live signal",
    "RESNET_FILES_DIR": "directory of CSV/Parquet candles, required by `RESNET_SOURCE=files`",
    "RESNET_FILES_COLUMNS": "column names the `files` source does not recognise, e.g. "
    "`timestamp=OpenTime,open=o,high=h,low=l,close=c,volume=v`",
    "RESNET_PLANTED_SYMBOLS": "synthetic source only: symbols whose candles carry the planted, "
    "learnable pattern; each must be in `RESNET_SYMBOLS`",
    "RESNET_EXPERIMENTS_DIR": "where experiment files (`<name>.yaml`) are kept",
    "MLFLOW_TRACKING_URI": "where experiment folds are logged (MLflow's own variable); unset: "
    "a SQLite store under the data root (`mlruns/mlflow.db`)",
    "RESNET_EXECUTOR": "which executor runs a run's steps: "
    + " | ".join(f"`{kind}`" for kind in executors.EXECUTORS)
    + " (unset: Dagster's default)",
    "RESNET_CELERY_BROKER": "`RESNET_EXECUTOR=celery`: the broker URL the workers listen on, "
    "e.g. `redis://host:6379/0`",
    "RESNET_CELERY_BACKEND": "`RESNET_EXECUTOR=celery`: the result backend (unset: the broker)",
    "RESNET_CELERY_VISIBILITY_TIMEOUT": "`RESNET_EXECUTOR=celery`: seconds before a step a lost "
    f"worker held goes to another (unset: {executors.DEFAULT_VISIBILITY_TIMEOUT_S}); keep it "
    "above the longest step",
}


@dataclass(frozen=True)
class Variable:
    name: str
    default: str | None  # None: unset unless given
    read_by: str


class _RecordingEnv(Mapping[str, str]):
    """An environment that records each variable read and the default its reader falls back
    on: how the reference learns the variables without a list kept beside the code."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)
        self.reads: dict[str, str | None] = {}

    def get(self, key: str, default: Any = None) -> Any:
        self.reads.setdefault(key, default or None)
        return self._values.get(key, default)

    def __getitem__(self, key: str) -> str:
        self.reads.setdefault(key, None)
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def _recorded(
    read: Callable[[Mapping[str, str]], object], values: Mapping[str, str]
) -> dict[str, str | None]:
    env = _RecordingEnv(values)
    read(env)
    return env.reads


def variables() -> list[Variable]:
    """Every environment variable the settings and the executor read, with its default."""
    out = [
        Variable(name, default, "settings.load_settings")
        for name, default in _recorded(
            lambda env: settings.load_settings(env, today=date(2025, 1, 1)), {}
        ).items()
    ]
    celery = {"RESNET_EXECUTOR": "celery", "RESNET_CELERY_BROKER": "redis://broker:6379/0"}
    for read in (executors.executor_kind, executors.celery_config):
        for name, default in _recorded(read, celery).items():
            if name not in {v.name for v in out}:
                out.append(Variable(name, default, f"executors.{read.__name__}"))
    return out


def _value(value: Any) -> str:
    """A default as a config file writes it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


def _type(hint: Any) -> str:
    """A type hint in words: ``float | None`` -> ``float or null``."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        parts = [_type(arg) for arg in typing.get_args(hint) if arg is not type(None)]
        nullable = type(None) in typing.get_args(hint)
        return " or ".join(parts + (["null"] if nullable else []))
    if origin in (tuple, list):
        return f"list of {_type(typing.get_args(hint)[0])}"
    return getattr(hint, "__name__", str(hint))


def _cell(text: str | None) -> str:
    return text.replace("|", "\\|").replace("\n", " ") if text else "-"


def _doc(cls: type) -> str:
    """The class's own docstring, not one inherited (a dataclass without one gets its
    signature: not shown)."""
    doc = inspect.cleandoc(cls.__dict__.get("__doc__") or "")
    return "" if doc.startswith(f"{cls.__name__}(") else doc


def _default(spec: Field) -> Any:
    """The field's default; ``MISSING`` when it has none (a required field)."""
    if spec.default is not MISSING:
        return spec.default
    return MISSING if spec.default_factory is MISSING else spec.default_factory()


def field_rows(cls: type) -> list[tuple[str, str, str, str]]:
    """(field, default, allowed values, description) for each field of ``cls``."""
    hints = typing.get_type_hints(cls)
    rows = []
    for spec in fields(cls):
        options = knobs.choices(spec)
        allowed = " \\| ".join(f"`{_value(c)}`" for c in options) or _type(hints[spec.name])
        rule = knobs.bounds(spec).text()
        if rule and not options:
            allowed += f", {rule}"
        if knobs.from_data(spec):
            allowed = "set from the data, not from config"
        text = spec.metadata.get("description", "")  # the knob's own text, without its choices
        default = _default(spec)
        shown = "required" if default is MISSING else f"`{_value(default)}`"
        rows.append((f"`{spec.name}`", shown, allowed, _cell(text)))
    return rows


@dataclass(frozen=True)
class AssetConfig:
    """One asset's run config: the dataclasses it takes whole, and its other fields."""

    asset: str
    classes: tuple[type, ...]
    overrides: dict[str, Any]  # a field of those classes whose default the asset changes
    own: list[tuple[str, str, str, str]]


def _run_config_class(asset: Any) -> Any:
    """The Dagster ``Config`` class an asset's function takes as ``config``, if any."""
    function = getattr(asset.op.compute_fn, "decorated_fn", asset.op.compute_fn)
    parameter = inspect.signature(function).parameters.get("config")
    if parameter is None:
        return None
    if isinstance(parameter.annotation, str):  # postponed annotations: resolve the name
        return typing.get_type_hints(function)["config"]
    return parameter.annotation


def asset_configs(definitions: Any) -> list[AssetConfig]:
    """What the Launchpad and ``--config-json`` take per asset, from the loaded definitions."""
    out = []
    for key, asset in definitions.get_repository_def().assets_defs_by_key.items():
        config = _run_config_class(asset)
        if config is None:
            continue
        declared = config.model_fields
        whole = tuple(
            cls
            for cls in CONFIG_CLASSES
            if knobs.config_fields(cls)
            and {f.name for f in knobs.config_fields(cls)} <= set(declared)
        )
        taken = {f.name: _default(f) for cls in whole for f in knobs.config_fields(cls)}
        overrides, own = {}, []
        for name, spec in declared.items():
            if name in taken:
                default = spec.get_default(call_default_factory=True)
                if _value(default) != _value(taken[name]):
                    overrides[name] = default
                continue
            own.append(next(row for row in _model_rows(config) if row[0] == f"`{name}`"))
        out.append(AssetConfig(key.to_user_string(), whole, overrides, own))
    return out


def _model_rows(config: type) -> list[tuple[str, str, str, str]]:
    """(field, default, allowed values, description) of a pydantic model's fields."""
    return [
        (
            f"`{name}`",
            "required"
            if spec.is_required()
            else f"`{_value(spec.get_default(call_default_factory=True))}`",
            _type(spec.annotation),
            _cell(spec.description),
        )
        for name, spec in config.model_fields.items()
    ]


def resource_classes(definitions: Any) -> list[tuple[str, type]]:
    """(resource key, class) of every resource; a resource chosen among the subclasses of one
    of ours (the candle sources) lists each of them."""
    out = []
    for key, resource in (definitions.resources or {}).items():
        base = type(resource).__mro__[1]
        ours = base.__module__.startswith(__package__ or "resnet_pipeline")
        for cls in base.__subclasses__() if ours else [type(resource)]:
            out.append((key, cls))
    return out


def _table(rows: list[tuple[str, str, str, str]], first: str = "field") -> list[str]:
    return [
        f"| {first} | default | allowed values | description |",
        "|---|---|---|---|",
        *(f"| {' | '.join(row)} |" for row in rows),
    ]


def _anchor(cls: type) -> str:
    return cls.__name__.lower()


def render(definitions: Any) -> str:
    """The whole reference as Markdown."""
    sections = {cls: name for name, classes in SECTIONS.items() for cls in classes}
    assets = asset_configs(definitions)
    lines = [
        "# Configuration reference",
        "",
        f"Generated from the code by `{COMMAND}`: do not edit it by hand.",
        "Every default is read from the field that declares it. How the pieces fit together:",
        "[configuration](configuration.md).",
        "",
        "## Run config per asset",
        "",
        "What the Launchpad and `--config-json` take, under",
        '`{"ops": {"<asset>": {"config": {...}}}}`. A run config is flat: the fields of every',
        "part an asset takes sit side by side.",
        "",
    ]
    for asset in assets:
        parts = ", ".join(f"[{cls.__name__}](#{_anchor(cls)})" for cls in asset.classes)
        lines.append(f"### `{asset.asset}`")
        lines.append("")
        if parts:
            lines += [f"Every field of {parts}.", ""]
        for name, default in asset.overrides.items():
            lines += [f"Its default for `{name}` is `{_value(default)}`.", ""]
        if asset.own:
            lines += [*_table(asset.own), ""]
    lines += ["## Config dataclasses", ""]
    for cls in CONFIG_CLASSES:
        used_by = [f"`{a.asset}`" for a in assets if cls in a.classes]
        where = [f"`{cls.__module__}`"]
        if cls in sections:
            where.append(f"experiment file section `{sections[cls]}`")
        if used_by:
            where.append("run config of " + ", ".join(used_by))
        lines += [f"### {cls.__name__}", "", "; ".join(where) + "."]
        if _doc(cls):
            lines += ["", _doc(cls)]
        lines += ["", *_table(field_rows(cls)), ""]
    lines += [
        "## Resources",
        "",
        "Built from the settings when the definitions load (the settings' values replace these",
        "defaults); a test or a deployment may pass its own.",
        "",
    ]
    for key, cls in resource_classes(definitions):
        lines += [f"### `{key}`: {cls.__name__}", "", f"`{cls.__module__}`."]
        if _doc(cls):
            lines += ["", _doc(cls)]
        rows = _model_rows(cls)
        lines += ["", *(_table(rows) if rows else ["No fields."]), ""]
    lines += [
        "## Environment variables",
        "",
        "Read once when the definitions load; a bad value fails naming the variable and the fix.",
        "",
        "| variable | default | read by | meaning |",
        "|---|---|---|---|",
    ]
    for var in variables():
        default = f"`{var.default}`" if var.default else "unset"
        meaning = VARIABLE_MEANINGS.get(var.name, "")
        lines.append(f"| `{var.name}` | {default} | `{var.read_by}` | {_cell(meaning)} |")
    return "\n".join(lines) + "\n"


def load_definitions() -> Any:
    """The definitions built from default settings, so the reference does not depend on the
    environment it is generated in."""
    from resnet_pipeline.definitions import build_definitions

    return build_definitions(settings.load_settings({}, today=date(2025, 1, 1)), env={})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REFERENCE_PATH, help="the file to write")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when the file is stale"
    )
    args = parser.parse_args(argv)
    text = render(load_definitions())
    current = args.output.read_text() if args.output.exists() else ""
    if args.check:
        if current != text:
            print(f"{args.output} is stale: run {COMMAND}", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
