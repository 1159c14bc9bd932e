from datetime import date

import pytest

from resnet_pipeline.settings import SettingsError, load_settings


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
        ({"BYBIT_BASE_URL": "127.0.0.1:8080"}, "BYBIT_BASE_URL"),
        ({"BYBIT_BASE_URL": "http://host/v5/market"}, "BYBIT_BASE_URL"),
        ({"RESNET_SOURCE": "files"}, "RESNET_FILES_DIR"),
        ({"RESNET_DATA_DIR": " "}, "RESNET_DATA_DIR"),
        ({"RESNET_BYBIT_MARKET": "inverse"}, "RESNET_BYBIT_MARKET"),
    ],
)
def test_bad_values_name_the_variable(env, names):
    with pytest.raises(SettingsError, match=names):
        load_settings(env)
