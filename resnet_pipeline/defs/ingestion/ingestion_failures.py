"""How raw_candles fails: one paragraph naming the file or symbol and the fix.

Format errors (a bad file, an unknown symbol, bad config, a corrupt stored partition) cannot be
fixed by retrying: they fail with ``allow_retries=False`` (honoured by op retry policies) and
tag the run so that run retries (``dagster/max_retries``) skip it too. Transient source errors
stay retryable.
"""

import warnings

import dagster as dg
import pandas as pd
import pyarrow as pa
from upath import UPath

from resnet_pipeline.commands import materialize
from resnet_pipeline.market.files import CandleFileError, ConflictingCandlesWarning
from resnet_pipeline.market.ingest import FutureMonthError, IngestResult, ingest_month
from resnet_pipeline.market.minute_ranges import to_utc
from resnet_pipeline.market.schema import CandleValidationError
from resnet_pipeline.market.source import CandleSource, SourceError, UnknownSymbolError
from resnet_pipeline.partitions import split_key
from resnet_pipeline.resources.candle_source import CandleSourceResource
from resnet_pipeline.storage import CorruptPartitionError, read_parquet

ASSET = "raw_candles"


# Run retries (`dagster/max_retries`) ignore Failure.allow_retries (that flag only governs op
# retry policies); this documented run tag makes the daemon skip the retry of a failed run.
NO_RUN_RETRY_TAG = {"dagster/retry_on_asset_or_op_failure": "false"}


def rerun_command(partition_key: str) -> str:
    return materialize(ASSET, partition_key)


def permanent_failure(
    context: dg.AssetExecutionContext, description: str, **metadata: object
) -> dg.Failure:
    """A failure that retrying cannot fix (bad file, unknown symbol, bad config): no retry."""
    context.instance.add_run_tags(context.run.run_id, NO_RUN_RETRY_TAG)
    return dg.Failure(description=description, metadata=metadata, allow_retries=False)


class StoredPartitionError(ValueError):
    """The stored partition file cannot be read (truncated or corrupt)."""


class AsOfError(ValueError):
    """``raw_candles.config.as_of`` is not an ISO-8601 time."""


def read_stored(path: UPath, partition_key: str) -> pd.DataFrame | None:
    """The stored partition, None when there is none; a corrupt file names itself and the fix."""
    if not path.exists():
        return None
    try:
        return read_parquet(path)
    except (OSError, pa.ArrowException, CorruptPartitionError) as error:
        raise StoredPartitionError(
            f"stored partition {path} is unreadable ({type(error).__name__}: {error}): it was "
            f"truncated or corrupted; delete it and rebuild it: `{rerun_command(partition_key)}`"
        ) from None


def parse_as_of(raw: str) -> pd.Timestamp:
    """ISO-8601 only: pandas would also read ``01/02/2024``, and guess which is the month."""
    try:
        return to_utc(pd.to_datetime(raw.strip(), format="ISO8601"))
    except (ValueError, TypeError):
        raise AsOfError(
            f"{ASSET}.config.as_of={raw!r} is not a time: use ISO-8601 like 2024-01-15T00:00:00Z"
        ) from None


def build_source(
    context: dg.AssetExecutionContext, candle_source: CandleSourceResource
) -> CandleSource:
    try:
        return candle_source.build()
    except (ValueError, OSError) as error:
        raise permanent_failure(
            context,
            f"candle_source ({candle_source.kind}) cannot be built: {error}. Fix the setting "
            "(RESNET_SOURCE, RESNET_FILES_DIR, RESNET_FILES_COLUMNS, BYBIT_*) or the "
            "candle_source resource config, then re-run.",
            source=candle_source.kind,
        ) from None


def fetch_month(
    context: dg.AssetExecutionContext,
    source: CandleSource,
    kind: str,
    now: pd.Timestamp,
    stored: pd.DataFrame | None,
) -> IngestResult:
    """``ingest_month`` with its errors as Failures; the source's warnings logged and shown."""
    symbol, month = split_key(context.partition_key)
    where = f"{symbol} {month:%Y-%m}"
    meta = {"source": kind}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConflictingCandlesWarning)
            result = ingest_month(source, symbol, month, now, stored)
    except (CandleFileError, UnknownSymbolError, FutureMonthError) as error:
        raise permanent_failure(
            context,
            f"{where}: {error}. Nothing was stored; after the fix: `"
            f"{rerun_command(context.partition_key)}`",
            requests=source.requests,
            **meta,
        ) from None
    except CandleValidationError as error:
        raise permanent_failure(
            context,
            f"{where}: {error}. The stored partition is left unchanged; if it is the invalid "
            f"part, delete it and rebuild: `{rerun_command(context.partition_key)}`",
            requests=source.requests,
            **meta,
        ) from None
    except SourceError as error:  # transient, retries exhausted: the run may be retried
        raise dg.Failure(
            description=f"{where}: {error}", metadata={"requests": source.requests, **meta}
        ) from error
    texts = []
    for seen in caught:
        if issubclass(seen.category, ConflictingCandlesWarning):
            texts.append(str(seen.message))
            context.log.warning(f"{where}: {seen.message}")
        else:
            warnings.warn_explicit(seen.message, seen.category, seen.filename, seen.lineno)
    context.add_output_metadata({"source_warnings": dg.MetadataValue.text("\n".join(texts) or "-")})
    return result
