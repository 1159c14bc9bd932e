"""Settings read from environment variables, validated once when the definitions load.

Only this module (and resource construction) reads the environment; domain code receives
plain values. Reading settings has no side effect: whether the data root can be written is
checked when a run starts (``require_writable_root``, from the ``store`` resource).
"""

from __future__ import annotations

import functools
import os
import re
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit

from resnet_pipeline.market.files import MAPPING_HINT, parse_column_mapping
from resnet_pipeline.market.source import MARKETS
from resnet_pipeline.urls import redact_url

SOURCES = ("bybit", "synthetic", "files")
# MLflow's own variable (its client reads the same name): where experiment runs are logged.
TRACKING_URI_VARIABLE = "MLFLOW_TRACKING_URI"
_SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,30}$")
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


class SettingsError(ValueError):
    """An environment variable holds a value the pipeline cannot use."""


@dataclass(frozen=True)
class Settings:
    data_dir: str
    symbols: tuple[str, ...]
    first_month: date
    source: str
    bybit_base_url: str | None
    files_dir: str | None
    bybit_market: str = "spot"
    # RESNET_FILES_COLUMNS as (candle column, file column) pairs; dict() it for a resource
    files_columns: tuple[tuple[str, str], ...] = ()
    # symbols whose synthetic candles carry the planted pattern (market.planted)
    planted_symbols: tuple[str, ...] = ()
    experiments_dir: str = "experiments"  # where experiment files (<name>.yaml) are kept
    mlflow_tracking_uri: str | None = None  # None: the local store under the data root


def _symbol_list(raw: str, variable: str) -> tuple[str, ...]:
    symbols = tuple(s.strip().upper() for s in raw.split(",") if s.strip())
    bad = [s for s in symbols if not _SYMBOL_RE.match(s)]
    if bad:
        raise SettingsError(
            f"{variable} has invalid symbol(s) {bad}: use exchange symbols such as BTCUSDT "
            "(letters and digits, no slash), comma-separated"
        )
    if len(set(symbols)) != len(symbols):
        raise SettingsError(f"{variable} lists a symbol twice: {list(symbols)}")
    return symbols


def _symbols(raw: str) -> tuple[str, ...]:
    symbols = _symbol_list(raw, "RESNET_SYMBOLS")
    if not symbols:
        raise SettingsError(
            "RESNET_SYMBOLS is empty: give a comma-separated list, e.g. BTCUSDT,ETHUSDT"
        )
    return symbols


def _planted_symbols(raw: str, symbols: tuple[str, ...], source: str) -> tuple[str, ...]:
    planted = _symbol_list(raw, "RESNET_PLANTED_SYMBOLS")
    if planted and source != "synthetic":
        raise SettingsError(
            f"RESNET_PLANTED_SYMBOLS={raw!r} plants a pattern into synthetic candles, but "
            f"RESNET_SOURCE={source}: unset RESNET_PLANTED_SYMBOLS, or use RESNET_SOURCE=synthetic"
        )
    unknown = [s for s in planted if s not in symbols]
    if unknown:
        raise SettingsError(
            f"RESNET_PLANTED_SYMBOLS names {unknown}, which RESNET_SYMBOLS={','.join(symbols)} "
            "does not list: add them to RESNET_SYMBOLS or remove them from RESNET_PLANTED_SYMBOLS"
        )
    return planted


def _first_month(raw: str, today: date) -> date:
    match = _MONTH_RE.match(raw.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise SettingsError(f"RESNET_FIRST_MONTH={raw!r} is not a month: use YYYY-MM, e.g. 2024-01")
    first = date(int(match.group(1)), int(match.group(2)), 1)
    if first < date(2015, 1, 1):
        raise SettingsError(
            f"RESNET_FIRST_MONTH={raw!r} is before 2015-01: no exchange data exists"
        )
    if first > today.replace(day=1):
        raise SettingsError(
            f"RESNET_FIRST_MONTH={raw!r} is after the running month {today:%Y-%m}: the month "
            "partitions run from it to the running month, so there would be none. Use a past "
            f"month, e.g. RESNET_FIRST_MONTH={today.year - 1}-{today.month:02d}"
        )
    return first


def _without_credentials(raw: str) -> str:
    """The URL as a message may show it: userinfo hidden even when the URL is malformed."""
    shown = redact_url(raw) or ""
    if "@" in shown and "***@" not in shown:
        shown = "***@" + shown.rsplit("@", 1)[1]
    return shown


def _base_url(raw: str | None) -> str | None:
    if not raw:
        return None
    if not re.match(r"^https?://[^/\s]+/?$", raw.strip()):
        raise SettingsError(
            f"BYBIT_BASE_URL={_without_credentials(raw.strip())!r} is not an origin: use "
            "scheme and host only, e.g. http://127.0.0.1:8080 or https://api.bybit.com"
        )
    return raw.strip().rstrip("/")


def _files_columns(raw: str | None) -> tuple[tuple[str, str], ...]:
    if not raw or not raw.strip():
        return ()
    try:
        return tuple(parse_column_mapping(raw).items())
    except ValueError as error:
        raise SettingsError(
            f"RESNET_FILES_COLUMNS={raw!r}: {error}. Use candle_column=file_column pairs, "
            f"comma-separated, e.g. {MAPPING_HINT}"
        ) from None


def require_writable_root(raw: str) -> None:
    """A local data root is created and probed when a run starts, not after a whole fetch;
    SettingsError names RESNET_DATA_DIR and the fix."""
    if "://" in raw and not raw.startswith("file://"):
        return  # an fsspec URL (s3://...): its permissions are the object store's
    local = Path(urlsplit(raw).path if raw.startswith("file://") else raw).expanduser()
    try:
        local.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=local, prefix=".write-probe-"):
            pass
    except OSError as error:
        raise SettingsError(
            f"RESNET_DATA_DIR={raw!r} is not a writable directory "
            f"({type(error).__name__}: {error.strerror or error}): point RESNET_DATA_DIR at a "
            "directory this user can create and write, e.g. RESNET_DATA_DIR=$PWD/data"
        ) from None


def load_settings(env: Mapping[str, str] | None = None, today: date | None = None) -> Settings:
    """Read and validate every RESNET_* / BYBIT_* variable; SettingsError names the bad one.
    Reads only: nothing is created or written."""
    env = os.environ if env is None else env
    today = today or datetime.now(UTC).date()
    source = env.get("RESNET_SOURCE", "bybit").strip().lower()
    if source not in SOURCES:
        raise SettingsError(f"RESNET_SOURCE={source!r} is not one of {', '.join(SOURCES)}")
    files_dir = env.get("RESNET_FILES_DIR") or None
    if source == "files" and not files_dir:
        raise SettingsError(
            "RESNET_SOURCE=files needs RESNET_FILES_DIR: the directory holding CSV/Parquet candles"
        )
    market = env.get("RESNET_BYBIT_MARKET", "spot").strip().lower()
    if market not in MARKETS:
        raise SettingsError(
            f"RESNET_BYBIT_MARKET={market!r} is not one of {', '.join(MARKETS)} "
            "(spot: BTC/USDT, linear: BTC/USDT:USDT perpetual)"
        )
    data_dir = env.get("RESNET_DATA_DIR", "data").strip()
    if not data_dir:
        raise SettingsError("RESNET_DATA_DIR is empty: give a directory (or s3://... URL)")
    experiments_dir = env.get("RESNET_EXPERIMENTS_DIR", "experiments").strip()
    if not experiments_dir:
        raise SettingsError(
            "RESNET_EXPERIMENTS_DIR is empty: give the directory of experiment files, e.g. "
            "experiments (relative to where Dagster runs) or an absolute path"
        )
    symbols = _symbols(env.get("RESNET_SYMBOLS", "BTCUSDT,ETHUSDT"))
    return Settings(
        data_dir=data_dir,
        symbols=symbols,
        first_month=_first_month(env.get("RESNET_FIRST_MONTH", "2024-01"), today),
        source=source,
        bybit_base_url=_base_url(env.get("BYBIT_BASE_URL")),
        files_dir=files_dir,
        bybit_market=market,
        files_columns=_files_columns(env.get("RESNET_FILES_COLUMNS")),
        planted_symbols=_planted_symbols(env.get("RESNET_PLANTED_SYMBOLS", ""), symbols, source),
        experiments_dir=experiments_dir,
        mlflow_tracking_uri=env.get(TRACKING_URI_VARIABLE, "").strip() or None,
    )


def _brief_settings_errors() -> None:
    """A SettingsError that reaches the top of a process (a `dagster` CLI command loading the
    definitions) prints as its one paragraph, not a wall of import frames. Servers that catch
    load errors (the UI's code server) still show the full error."""
    previous = sys.excepthook

    def hook(kind, error, trace) -> None:
        if issubclass(kind, SettingsError):
            sys.stderr.write(f"resnet_pipeline settings: {error}\n")
        else:
            previous(kind, error, trace)

    sys.excepthook = hook


@functools.cache
def current_settings() -> Settings:
    """This process's settings, read from the environment once (the definitions' partitions,
    jobs and resources all come from the same read)."""
    try:
        return load_settings()
    except SettingsError:
        _brief_settings_errors()
        raise
