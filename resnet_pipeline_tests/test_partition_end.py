"""The month partitions end at the last month the configured source can have, decided when
the definitions load without writing anything."""

from datetime import date

import pandas as pd
import pytest

from resnet_pipeline.market.files import FilesSource
from resnet_pipeline.market.synthetic import SyntheticSource
from resnet_pipeline.partition_months import last_month
from resnet_pipeline.partitions import month_partitions
from resnet_pipeline.settings import SettingsError, load_settings

TODAY = date(2025, 6, 15)


def _settings(tmp_path, **env):
    base = {
        "RESNET_SOURCE": "files",
        "RESNET_FILES_DIR": str(tmp_path),
        "RESNET_SYMBOLS": "BTCUSDT",
    }
    return load_settings(base | env, today=TODAY)


def _write(path, start: str, hours: int = 2) -> None:
    begin = pd.Timestamp(start, tz="UTC")
    candles = SyntheticSource().fetch("BTCUSDT", begin, begin + pd.Timedelta(hours=hours))
    candles.to_csv(path, index=False)


def test_files_end_at_the_newest_dated_file_and_say_so(tmp_path):
    for month in ("2024-01", "2024-02", "2024-03"):
        _write(tmp_path / f"BTCUSDT-1m-{month}.csv", f"{month}-01")
    settings = _settings(tmp_path)
    last, why = last_month(settings, TODAY)
    assert last == date(2024, 3, 1) and str(tmp_path) in why
    keys = month_partitions(settings, TODAY).get_partition_keys()
    assert keys[0] == "2024-01-01" and keys[-1] == "2024-03-01"


def test_an_undated_file_counts_once_indexed_and_nothing_is_written_at_load(tmp_path):
    _write(tmp_path / "BTCUSDT-1m-2024-01.csv", "2024-01-01")
    _write(tmp_path / "BTCUSDT_export.csv", "2024-04-10")
    settings = _settings(tmp_path, RESNET_FILES_COLUMNS="")
    source = FilesSource(tmp_path)
    index = source.index.path
    before = index.exists()
    last, why = last_month(settings, TODAY)  # the undated file was never read: unknown
    assert last == date(2025, 6, 1) and "not known" in why
    assert index.exists() == before  # loading read only
    source.fetch(
        "BTCUSDT", pd.Timestamp("2024-04-01", tz="UTC"), pd.Timestamp("2024-05-01", tz="UTC")
    )
    assert last_month(settings, TODAY)[0] == date(2024, 4, 1)  # its indexed range


@pytest.mark.parametrize("source", ["bybit", "synthetic"])
def test_exchange_and_synthetic_sources_end_at_the_running_month(tmp_path, source):
    settings = load_settings({"RESNET_SOURCE": source}, today=TODAY)
    assert last_month(settings, TODAY)[0] == date(2025, 6, 1)
    assert month_partitions(settings, TODAY).get_partition_keys()[-1] >= "2025-06-01"


def test_a_first_month_after_the_newest_file_is_refused_naming_both(tmp_path):
    _write(tmp_path / "BTCUSDT-1m-2024-02.csv", "2024-02-01")
    settings = _settings(tmp_path, RESNET_FIRST_MONTH="2024-05")
    with pytest.raises(SettingsError, match=r"RESNET_FIRST_MONTH=2024-05 .* \(2024-02\)"):
        last_month(settings, TODAY)
