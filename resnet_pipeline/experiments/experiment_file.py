"""An experiment file (``<experiments dir>/<name>.yaml``, kept in git): read, expanded, checked.

```yaml
name: horizons              # optional; must equal the file name
description: label horizons and thresholds
months: 2024-02..2024-07    # the fold months, the same for every variant (or a list)
symbols: [BTCUSDT]          # optional: every configured symbol (RESNET_SYMBOLS)
base:                       # partial override shared by every variant
  training: {epochs: 10, max_train_samples: 20000}
  folds: {warm_start: true}
variants:                   # each a partial override of the one config, over base
  - name: spec-default
  - name: vol-scaled
    labels: {vol_k: 0.5}
grid:                       # the cartesian product, one variant per combination
  labels: {forward_window: [6, 30]}
  model: {dropout: [0.1, 0.5]}
search:                     # optional: trials an Optuna study proposes (search_space)
  space: {training.lr: {log: [1.0e-4, 1.0e-2]}}
  n_trials: 20
```

With a ``search``, variants and grid are optional, and variant names ``search-<number>`` are the
search's. Its ``search_months`` (some of ``months``, all before the others) are the months the
search picks on; ``Experiment.months``, what written variants run and the verdict scores, are
then the rest.

Sections and fields are those of ``variant_config.SECTIONS`` (derived from the dataclasses).
Grid variants are named ``<field>=<value>`` joined by ``+`` in file order
(``forward_window=6+dropout=0.1``), the section added where two grid sections share a field.
Every problem raises ``ExperimentError``: one paragraph naming the file, the variant and the
field, and what to write instead, values from the file quoted and cut to ``QUOTE_CHARS``.

A file is data, bounded (``bounded_yaml``): at most ``MAX_FILE_BYTES``, ``MAX_DEPTH`` levels
deep and ``MAX_NODES`` values, UTF-8, no aliases or anchors, no key twice; and at most
``MAX_VARIANTS`` variants, a grid's size counted before it is expanded.

Names become Dagster partition keys (``trial_keys``): letters, digits and ``_ . = + -`` only,
which keeps them clear of the characters Dagster reserves (``|``, ``,``, ``[``, ``]``, ``...``)
and of ``:``, the key's own separator; and never ending in ``.``, which would run into the
``...`` of a ``--partition-range first...last`` (``a.`` + ``...`` splits after ``a``).

The fold months must be month partitions with a month before the first to train on
(``months_within``: the command line checks them against the settings' partitions).

A variant's ``features`` must fit each symbol of the file and the data (``features_fit``): no
cross symbol equal to the traded one, no family needing more history than the month before
the first fold holds, and, where the source is known, no order flow from a source without it.
"""

from __future__ import annotations

import itertools
import re
from calendar import monthrange
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from resnet_pipeline.experiments.bounded_yaml import (
    QUOTE_CHARS,
    YamlRefused,
    cut,
    quoted,
    read_yaml,
)
from resnet_pipeline.experiments.search_space import (
    SEARCH_PREFIX,
    SearchSpaceError,
    SearchSpec,
    is_search_name,
    parse_search,
)
from resnet_pipeline.experiments.variant_config import (
    SECTIONS,
    VariantConfig,
    VariantConfigError,
    merged,
    resolve_config,
    section_fields,
)
from resnet_pipeline.features.feature_config import FeatureConfig
from resnet_pipeline.market.schema import has_order_flow
from resnet_pipeline.partition_months import MonthSpan

TOP_LEVEL = ("name", "description", "months", "symbols", "base", "variants", "grid", "search")
SUFFIXES = (".yaml", ".yml")
EXPERIMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
VARIANT_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.=+-]{0,126}[A-Za-z0-9_=+-])?$")
NAME_RULE = (
    "letters, digits and _ . = + - (at most 128, starting with a letter or digit, not ending "
    "with . and without ...): it becomes a Dagster partition key, and a --partition-range "
    "first...last splits at the first ..."
)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
# Variants in one file, named and grid together: each is a trial with a fold per month, so a
# thousand is already days of training; the grid's size is counted before it is expanded.
MAX_VARIANTS = 1000
# A refusal's problem text is cut to this; a field error from variant_config, which quotes
# the value or the field whole, has each quoted value and long word cut to QUOTE_CHARS first.
_MAX_PROBLEM_CHARS = 8 * QUOTE_CHARS
_QUOTED = re.compile(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"")
_LONG_WORD = re.compile(rf"\S{{{QUOTE_CHARS + 1},}}")


class ExperimentError(ValueError):
    """An experiment file that cannot be used; the message names the file, variant and field."""


@dataclass(frozen=True)
class Variant:
    name: str
    overrides: dict[str, dict[str, Any]]  # what the file sets for it, base included
    config: VariantConfig


@dataclass(frozen=True)
class Experiment:
    name: str
    path: str
    months: tuple[date, ...]
    symbols: tuple[str, ...]
    base: VariantConfig  # the base alone: the costs buy-and-hold pays in the report
    variants: tuple[Variant, ...]
    description: str = ""
    search: SearchSpec | None = None

    def variant(self, name: str) -> Variant | None:
        return next((v for v in self.variants if v.name == name), None)

    @property
    def search_months(self) -> tuple[date, ...]:
        """The months the search picks on, when the file splits them off (else ())."""
        return self.search.months if self.search else ()

    @property
    def all_months(self) -> tuple[date, ...]:
        """Every fold month of the file: the search's and the verdict's."""
        return tuple(sorted(self.search_months + self.months))


def valid_variant_name(name: str) -> bool:
    """Whether ``name`` can be a variant: a partition key that round-trips through a
    ``--partition-range`` (``NAME_RULE``)."""
    return bool(VARIANT_NAME.fullmatch(name)) and "..." not in name


def experiment_path(directory: str | Path, name: str) -> Path:
    """The file of experiment ``name`` (``.yaml``, or ``.yml`` when only that exists)."""
    folder = Path(directory)
    for suffix in SUFFIXES:
        if (folder / f"{name}{suffix}").exists():
            return folder / f"{name}{suffix}"
    return folder / f"{name}{SUFFIXES[0]}"


def experiment_files(directory: str | Path) -> list[Path]:
    """Every experiment file in ``directory``, by name."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES and p.is_file())


def load_experiment(
    path: str | Path, symbols: Sequence[str], market: str = "spot", source: str | None = None
) -> Experiment:
    """Read and check ``path``; ``symbols``: the configured ones (RESNET_SYMBOLS), the default
    and the allowed; ``market``: the venue's, which sets whether the strategy shorts;
    ``source``: RESNET_SOURCE, whose candles may lack order flow (None: not checked)."""
    path = Path(path)
    if not path.is_file():
        raise ExperimentError(
            f"{path}: no such experiment file. Experiment files live in RESNET_EXPERIMENTS_DIR "
            f"as <name>.yaml; create it (docs/experiments.md) or fix the name"
        )
    try:
        raw = read_yaml(path)
    except YamlRefused as error:
        raise ExperimentError(f"{path}: {error}") from None
    return parse_experiment(raw, path, symbols, market, source)


def _fail(path: Path, where: str, problem: str) -> ExperimentError:
    return ExperimentError(f"{path}: {where}: {cut(problem, _MAX_PROBLEM_CHARS)}")


def _forwarded(error: VariantConfigError) -> str:
    """A field error's text, each value it quotes and each long word cut to ``QUOTE_CHARS``."""
    text = _QUOTED.sub(lambda quote: cut(quote.group()), str(error))
    return _LONG_WORD.sub(lambda word: cut(word.group()), text)


def _months(raw: Any, path: Path) -> tuple[date, ...]:
    def month(value: Any) -> date:
        if isinstance(value, date) and value.day == 1:
            return date(value.year, value.month, 1)
        match = _MONTH.match(str(value).strip())
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise _fail(
                path, "months", f"{quoted(value)} is not a month: write YYYY-MM, e.g. 2024-02"
            )
        return date(int(match.group(1)), int(match.group(2)), 1)

    if isinstance(raw, str) and ".." in raw:
        first, last = (month(part) for part in raw.split("..", 1))
        if last < first:
            raise _fail(path, "months", f"{quoted(raw)} ends before it starts: write first..last")
        count = (last.year - first.year) * 12 + last.month - first.month + 1
        raw = [date(first.year + (first.month - 1 + i) // 12, (first.month - 1 + i) % 12 + 1, 1)
               for i in range(count)]  # fmt: skip
    if isinstance(raw, str | date):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise _fail(
            path,
            "months",
            "missing or empty: list the fold months, e.g. months: [2024-02, 2024-03] or "
            "months: 2024-02..2024-07",
        )
    months = [month(m) for m in raw]
    if len(set(months)) != len(months):
        raise _fail(path, "months", f"a month is listed twice in {quoted(raw)}")
    return tuple(sorted(months))


def _symbols(raw: Any, path: Path, known: Sequence[str]) -> tuple[str, ...]:
    if raw is None:
        return tuple(known)
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise _fail(path, "symbols", "give a list of symbols, e.g. symbols: [BTCUSDT]")
    symbols = tuple(str(s).strip().upper() for s in raw)
    unknown = [s for s in symbols if s not in known]
    if unknown:
        raise _fail(
            path,
            "symbols",
            f"{quoted(unknown)} not among the configured symbols {list(known)}: add them to "
            "RESNET_SYMBOLS (and ingest their months) or remove them from the file",
        )
    if len(set(symbols)) != len(symbols):
        raise _fail(path, "symbols", f"a symbol is listed twice in {quoted(list(symbols))}")
    return symbols


def _sections(raw: Any, path: Path, where: str) -> dict[str, dict[str, Any]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise _fail(path, where, f"is a {type(raw).__name__}: give a mapping of sections")
    unknown = [k for k in raw if k not in SECTIONS]
    if unknown:
        raise _fail(
            path,
            where,
            f"unknown section(s) {quoted(unknown)}: the sections are {', '.join(SECTIONS)}",
        )
    for section, values in raw.items():
        if values is not None and not isinstance(values, Mapping):
            raise _fail(path, f"{where}, {section}", "give a mapping of field: value")
    return {str(k): dict(v or {}) for k, v in raw.items()}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return "-".join(_text(v) for v in value)
    return str(value)


def expand_grid(
    raw: Any, path: Path, room: int = MAX_VARIANTS
) -> list[tuple[str, dict[str, dict[str, Any]]]]:
    """(name, overrides) of every combination of the grid, in file order; ``room``: how many
    variants it may add (``MAX_VARIANTS`` less those the file names), checked before expanding."""
    grid = _sections(raw, path, "grid")
    axes: list[tuple[str, str, list[Any]]] = []
    for section, values in grid.items():
        known = section_fields(section)
        for field, choices in values.items():
            if field not in known:
                raise _fail(
                    path,
                    f"grid, {section}.{cut(str(field))}",
                    f"not a field of {section}; its fields are {', '.join(sorted(known))}",
                )
            if not isinstance(choices, list) or not choices:
                raise _fail(
                    path,
                    f"grid, {section}.{field}",
                    f"give a non-empty list of values to try, e.g. {field}: [a, b]",
                )
            axes.append((section, field, choices))
    if not axes:
        return []
    size = 1
    for _, _, choices in axes:
        size *= len(choices)
        if size > room:
            sizes = " x ".join(str(len(choices)) for _, _, choices in axes)
            raise _fail(
                path,
                "grid",
                f"its {sizes} combinations are more than {room:,} variants (at most "
                f"{MAX_VARIANTS:,} per file, the named ones included): try fewer values or split "
                "the grid into several experiments",
            )
    repeated = {f for _, f, _ in axes if sum(1 for _, g, _ in axes if g == f) > 1}
    out = []
    for combination in itertools.product(*(choices for _, _, choices in axes)):
        overrides: dict[str, dict[str, Any]] = {}
        parts = []
        for (section, field, _), value in zip(axes, combination, strict=True):
            overrides.setdefault(section, {})[field] = value
            label = f"{section}.{field}" if field in repeated else field
            parts.append(f"{label}={_text(value)}")
        name = "+".join(parts)
        if not valid_variant_name(name):
            raise _fail(
                path,
                f"grid variant {quoted(name)}",
                f"its values cannot name a variant ({NAME_RULE}): list this combination under "
                "variants with a name of its own",
            )
        out.append((name, overrides))
    return out


def _named_variants(raw: Any, path: Path) -> list[tuple[str, dict[str, dict[str, Any]]]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _fail(path, "variants", "give a list of variants, each with a name")
    out = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, Mapping) or "name" not in entry:
            raise _fail(
                path,
                f"variants[{index}]",
                "each variant is a mapping with a name, e.g. - name: wide-window",
            )
        name = entry["name"]
        if not isinstance(name, str) or not name.strip():
            raise _fail(path, f"variants[{index}], name", _not_text(name, "spec-default"))
        if not valid_variant_name(name):
            raise _fail(
                path,
                f"variant {quoted(name)}",
                f"a name is {NAME_RULE}",
            )
        body = {k: v for k, v in entry.items() if k != "name"}
        out.append((name, _sections(body, path, f"variant {name!r}")))
        if len(out) > MAX_VARIANTS:
            raise _fail(
                path,
                "variants",
                f"more than {MAX_VARIANTS:,} variants: split them into several experiments",
            )
    return out


def _not_text(value: Any, example: str) -> str:
    """Why a name that YAML read as something other than text is refused."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return f"is empty: write a name, e.g. name: {example}"
    return (
        f"{quoted(value)} is a {type(value).__name__}, not text (YAML reads yes, no, on, off, "
        f'true, false, numbers and dates as values): quote it, e.g. name: "{cut(str(value))}"'
    )


def history_fits(families: Sequence[str], history_minutes: int, first_fold: date) -> str | None:
    """Why ``families`` needing ``history_minutes`` of candles before a row cannot train the
    fold of ``first_fold`` (the month before it, the least a fold trains on, would be warm-up
    only); None when they can."""
    before = _add_months(first_fold, -1)
    minutes = monthrange(before.year, before.month)[1] * 1440
    if history_minutes < minutes:
        return None
    return (
        f"the families {list(families)} need {history_minutes:,} minutes of candles before a "
        f"row, more than {before:%Y-%m} (the month before the first fold, {minutes:,} minutes) "
        "holds, so its first fold would train on warm-up only: start the months later or drop "
        "the family with the longest history"
    )


def features_fit(
    features: FeatureConfig, symbols: Sequence[str], first_fold: date, source: str | None
) -> tuple[str, str] | None:
    """(field, problem) when the variant's channels cannot be computed for ``symbols`` from
    the stored data: a cross symbol equal to a traded one, a family whose history is longer
    than the month before ``first_fold`` (the least a fold trains on), order flow from a
    ``source`` without it; None when they fit."""
    for symbol in symbols:
        try:
            features.selection(symbol)
        except ValueError as error:
            return "cross_symbol", f"for symbol {symbol}: {error}"
    selection = features.selection("")
    problem = history_fits(selection.families, selection.history_minutes, first_fold)
    if problem:
        return "channels", problem
    if source is not None and selection.needs_order_flow and not has_order_flow(source):
        return "channels", (
            f"the order_flow channels need taker-buy volume and trade counts, which candles of "
            f"RESNET_SOURCE={source} do not carry: drop order_flow from channels, or ingest from "
            "a source with order flow (RESNET_SOURCE=files with Binance daily exports)"
        )
    return None


def parse_experiment(
    raw: Any,
    path: str | Path,
    symbols: Sequence[str],
    market: str = "spot",
    source: str | None = None,
) -> Experiment:
    """The experiment a file's parsed YAML describes (``load_experiment`` without the read)."""
    path = Path(path)
    stem = path.stem
    if not isinstance(raw, Mapping):
        raise _fail(path, "top level", "the file must be a mapping with months and variants")
    unknown = [k for k in raw if k not in TOP_LEVEL]
    if unknown:
        raise _fail(
            path, "top level", f"unknown key(s) {quoted(unknown)}: use {', '.join(TOP_LEVEL)}"
        )
    name = raw.get("name", stem)
    if not isinstance(name, str) or not name.strip():
        raise _fail(path, "name", _not_text(name, stem))
    if name != stem:
        raise _fail(path, "name", f"{quoted(name)} differs from the file name {stem!r}: rename one")
    if not EXPERIMENT_NAME.fullmatch(name):
        raise _fail(
            path,
            "name",
            f"{quoted(name)}: an experiment name is letters, digits, _ and - (at most 64): "
            "rename the file",
        )
    months = _months(raw.get("months"), path)
    chosen = _symbols(raw.get("symbols"), path, symbols)
    base = _sections(raw.get("base"), path, "base")
    named = _named_variants(raw.get("variants"), path)
    entries = named + expand_grid(raw.get("grid"), path, room=MAX_VARIANTS - len(named))
    search, first_fold = None, months[0]
    if raw.get("search") is not None:
        months, search = _search(raw["search"], path, months, base, market)
        taken = [n for n, _ in entries if is_search_name(n)]
        if taken:
            raise _fail(
                path,
                f"variant {taken[0]!r}",
                f"names {SEARCH_PREFIX}<number> are the search's trials: rename it",
            )
    if not entries and search is None:
        raise _fail(
            path,
            "variants",
            "the experiment has no variant: list variants (each a name and the sections it "
            "changes; - name: spec-default changes nothing), a grid or a search",
        )
    names: set[str] = set()
    by_hash: dict[str, str] = {}
    variants = []
    for variant, own in entries:
        if variant in names:
            raise _fail(path, f"variant {variant!r}", "the name is used twice: rename one")
        names.add(variant)
        overrides = merged(base, own)
        try:
            config = resolve_config(overrides, market)
        except VariantConfigError as error:
            raise _fail(path, f"variant {variant!r}", _forwarded(error)) from None
        unfit = features_fit(config.features, chosen, first_fold, source)
        if unfit:
            raise _fail(path, f"variant {variant!r}, features.{unfit[0]}", unfit[1])
        twin = by_hash.setdefault(config.config_hash, variant)
        if twin != variant:
            raise _fail(
                path,
                f"variant {variant!r}",
                f"its configuration equals variant {twin!r}'s (one trial, hash "
                f"{config.config_hash[:12]}): remove one or make them differ",
            )
        variants.append(Variant(variant, overrides, config))
    try:
        base_config = resolve_config(base, market)
    except VariantConfigError as error:
        raise _fail(path, "base", _forwarded(error)) from None
    return Experiment(
        name=name,
        path=str(path),
        months=months,
        symbols=chosen,
        base=base_config,
        variants=tuple(variants),
        description=str(raw.get("description") or ""),
        search=search,
    )


def _search(
    raw: Any, path: Path, months: tuple[date, ...], base: dict, market: str
) -> tuple[tuple[date, ...], SearchSpec]:
    """(the verdict's months, the search): ``search_months``, when given, are split off
    ``months``: some of them, every one before the months left to the verdict."""
    chosen: tuple[date, ...] = ()
    if isinstance(raw, Mapping) and raw.get("search_months") is not None:
        chosen = _months(raw["search_months"], path)
        where = "search, search_months"
        outside = [f"{m:%Y-%m}" for m in chosen if m not in months]
        if outside:
            raise _fail(path, where, f"{outside} not among the file's months: list some of them")
        rest = tuple(m for m in months if m not in chosen)
        if not rest:
            raise _fail(
                path,
                where,
                "every month is a search month, so none is left to judge the search on: keep "
                "the later months out of search_months",
            )
        if chosen[-1] > rest[0]:
            raise _fail(
                path,
                where,
                f"{chosen[-1]:%Y-%m} is after {rest[0]:%Y-%m}, a verdict month: the search picks "
                "on the earlier months and is judged on the later ones",
            )
        months = rest
    try:
        return months, parse_search(raw, base, market, chosen)
    except SearchSpaceError as error:
        raise _fail(path, error.where, error.problem) from None


def _add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def months_within(experiment: Experiment, span: MonthSpan) -> None:
    """Refuse fold months that are no month partition, or a first fold with no earlier month
    partition to train on: ``run`` would fail on them after registering."""
    first, last = experiment.all_months[0], experiment.all_months[-1]
    earliest = _add_months(span.first, 1)
    partitions = (
        f"the month partitions run from RESNET_FIRST_MONTH={span.first:%Y-%m} to "
        f"{span.last:%Y-%m} ({span.last_reason})"
    )
    fix = (
        f"choose months from {earliest:%Y-%m} to {span.last:%Y-%m} in the months field"
        if earliest <= span.last
        else "no month can be a fold yet (a fold trains on the months before it)"
    )
    path = Path(experiment.path)
    if last > span.last:
        raise _fail(
            path,
            "months",
            f"{last:%Y-%m} is after the last month partition: {partitions}; {fix}",
        )
    if first < earliest:
        problem = (
            "is before the first month partition"
            if first < span.first
            else "has no month partition before it to train on"
        )
        raise _fail(
            path,
            "months",
            f"{first:%Y-%m} {problem}: {partitions}; {fix}, or set RESNET_FIRST_MONTH="
            f"{_add_months(first, -1):%Y-%m} (and ingest that month) for a fold in {first:%Y-%m}",
        )
