from datetime import date

import pytest

from resnet_pipeline.settings import SettingsError, load_settings, require_writable_root


def test_defaults():
    s = load_settings({})
    assert s.data_dir == "data"
    assert s.symbols == ("BTCUSDT", "ETHUSDT")
    assert s.first_month == date(2024, 1, 1)
    assert s.source == "bybit"
    assert s.bybit_base_url is None


def test_values_are_normalized():
    s = load_settings(
        {
            "RESNET_SYMBOLS": " btcusdt, SOLUSDT ",
            "RESNET_FIRST_MONTH": "2023-07",
            "RESNET_SOURCE": "Synthetic",
            "BYBIT_BASE_URL": "http://127.0.0.1:8080/",
            "RESNET_BYBIT_MARKET": "Linear",
        }
    )
    assert s.bybit_market == "linear"
    assert s.symbols == ("BTCUSDT", "SOLUSDT")
    assert s.first_month == date(2023, 7, 1)
    assert s.source == "synthetic"
    assert s.bybit_base_url == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"RESNET_SOURCE": "binance"}, "RESNET_SOURCE"),
        ({"RESNET_SYMBOLS": "BTC/USDT"}, "RESNET_SYMBOLS"),
        ({"RESNET_SYMBOLS": " , "}, "RESNET_SYMBOLS"),
        ({"RESNET_SYMBOLS": "BTCUSDT,BTCUSDT"}, "RESNET_SYMBOLS"),
        ({"RESNET_FIRST_MONTH": "2024-13"}, "RESNET_FIRST_MONTH"),
        ({"RESNET_FIRST_MONTH": "Jan 2024"}, "RESNET_FIRST_MONTH"),
        ({"RESNET_FIRST_MONTH": "2010-01"}, "RESNET_FIRST_MONTH"),
        ({"RESNET_FIRST_MONTH": "2999-01"}, "RESNET_FIRST_MONTH=.*after the running month"),
        ({"BYBIT_BASE_URL": "127.0.0.1:8080"}, "BYBIT_BASE_URL"),
        ({"BYBIT_BASE_URL": "http://host/v5/market"}, "BYBIT_BASE_URL"),
        ({"RESNET_SOURCE": "files"}, "RESNET_FILES_DIR"),
        ({"RESNET_DATA_DIR": " "}, "RESNET_DATA_DIR"),
        ({"RESNET_BYBIT_MARKET": "inverse"}, "RESNET_BYBIT_MARKET"),
        ({"RESNET_SOURCE": "synthetic", "RESNET_PLANTED_SYMBOLS": "SOLUSDT"}, "not list"),
        ({"RESNET_PLANTED_SYMBOLS": "BTCUSDT"}, "RESNET_SOURCE=bybit"),
        ({"RESNET_SOURCE": "synthetic", "RESNET_PLANTED_SYMBOLS": "BTC/USDT"}, "PLANTED"),
        ({"RESNET_EXPERIMENTS_DIR": " "}, "RESNET_EXPERIMENTS_DIR"),
    ],
)
def test_bad_values_name_the_variable(env, names):
    with pytest.raises(SettingsError, match=names):
        load_settings(env)


def test_an_unwritable_data_dir_is_found_when_a_run_starts(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    for bad in (blocker, blocker / "data"):  # root cannot write there either
        assert load_settings({"RESNET_DATA_DIR": str(bad)}).data_dir == str(bad)  # reads only
        with pytest.raises(SettingsError, match=r"RESNET_DATA_DIR=.*not a writable directory"):
            require_writable_root(str(bad))


def test_reading_settings_writes_nothing_and_a_run_creates_the_root(tmp_path):
    fresh = tmp_path / "new" / "data"
    assert load_settings({"RESNET_DATA_DIR": str(fresh)}).data_dir == str(fresh)
    assert not (tmp_path / "new").exists()
    require_writable_root(str(fresh))
    assert fresh.is_dir() and not list(fresh.iterdir())  # the probe leaves nothing behind
    url = "s3://bucket/prefix"
    assert load_settings({"RESNET_DATA_DIR": url}).data_dir == url
    require_writable_root(url)  # an object store's permissions are its own


def test_the_first_month_may_be_the_running_month_but_not_later():
    today = date(2026, 12, 2)
    assert load_settings({"RESNET_FIRST_MONTH": "2026-12"}, today).first_month == date(2026, 12, 1)
    with pytest.raises(SettingsError, match=r"RESNET_FIRST_MONTH='2027-01'.*2026-12"):
        load_settings({"RESNET_FIRST_MONTH": "2027-01"}, today)


@pytest.mark.parametrize(
    "url", ["ftp://user:s3cret@host", "user:s3cret@127.0.0.1:8080", "http://u:s3cret@h/v5"]
)
def test_base_url_errors_never_repeat_credentials(url):
    with pytest.raises(SettingsError, match="BYBIT_BASE_URL") as caught:
        load_settings({"BYBIT_BASE_URL": url})
    assert "s3cret" not in str(caught.value) and "***@" in str(caught.value)


def test_files_columns_are_parsed_and_checked_at_load():
    s = load_settings({"RESNET_FILES_COLUMNS": "timestamp=OpenTime, close=c"})
    assert dict(s.files_columns) == {"timestamp": "OpenTime", "close": "c"}
    assert load_settings({}).files_columns == ()
    with pytest.raises(SettingsError, match=r"RESNET_FILES_COLUMNS=.*'price' is not a candle"):
        load_settings({"RESNET_FILES_COLUMNS": "price=p"})


def test_a_cli_command_reports_a_bad_setting_in_one_paragraph(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESNET_", "BYBIT_"))}
    env.update(RESNET_SOURCE="bogus", DAGSTER_HOME=str(tmp_path))
    dagster = Path(sys.executable).with_name("dagster")
    run = subprocess.run(
        [str(dagster), "asset", "materialize", "-m", "resnet_pipeline.definitions"]
        + ["--select", "raw_candles", "--partition", "2024-01-01|BTCUSDT"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode != 0
    assert "resnet_pipeline settings: RESNET_SOURCE='bogus' is not one of" in run.stderr
    assert "Traceback" not in run.stderr


def test_experiment_settings():
    s = load_settings({})
    assert s.planted_symbols == () and s.experiments_dir == "experiments"
    assert s.mlflow_tracking_uri is None
    s = load_settings(
        {
            "RESNET_SOURCE": "synthetic",
            "RESNET_SYMBOLS": "PLANTUSDT,NOISEUSDT",
            "RESNET_PLANTED_SYMBOLS": "plantusdt",
            "RESNET_EXPERIMENTS_DIR": "/srv/experiments",
            "MLFLOW_TRACKING_URI": " http://mlflow:5000 ",
        }
    )
    assert s.planted_symbols == ("PLANTUSDT",) and s.experiments_dir == "/srv/experiments"
    assert s.mlflow_tracking_uri == "http://mlflow:5000"
