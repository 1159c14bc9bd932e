"""The calendar known answer (market.planted.CalendarPattern): a daily move at a fixed UTC
minute, up on weekdays and down at weekends, announced by the clock and by nothing else."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from resnet_pipeline.features.calendar_channels import CALENDAR
from resnet_pipeline.features.channel_names import FEATURE_CHANNELS, PRICE_CHANNELS
from resnet_pipeline.features.channels import compute_features
from resnet_pipeline.features.labels import DOWN, UP, compute_labels
from resnet_pipeline.market.planted import EPOCH_WEEKDAY, CalendarPattern
from resnet_pipeline.market.synthetic import EPOCH, SyntheticSource

START = pd.Timestamp("2024-01-01", tz="UTC")
PLANTED = "CLOCKUSDT"
PATTERN = CalendarPattern()


def _pair(
    days: int, start: pd.Timestamp = START
) -> tuple[pd.DataFrame, pd.DataFrame, SyntheticSource]:
    source = SyntheticSource(0, planted_symbols=[PLANTED], pattern=PATTERN)
    end = start + pd.Timedelta(days=days)
    return SyntheticSource(0).fetch(PLANTED, start, end), source.fetch(PLANTED, start, end), source


def test_the_weekday_count_starts_where_the_market_does():
    assert EPOCH.day_of_week == EPOCH_WEEKDAY


def test_one_event_a_day_at_the_minute_up_on_weekdays_down_at_weekends():
    plain, planted, source = _pair(14)
    events = source.planted_events(PLANTED, START, START + pd.Timedelta(days=14))
    ts = events["timestamp"]
    assert len(events) == 14
    assert ((ts.dt.hour * 60 + ts.dt.minute) == PATTERN.minute_of_day).all()
    np.testing.assert_array_equal(events["direction"], np.where(ts.dt.day_of_week < 5, 1, -1))
    # returns: the planted moves plus one constant per day (the bridge to the next midnight)
    step = np.zeros(len(plain))
    minute = pd.Series(np.arange(len(plain)), index=plain["timestamp"])
    for t, sign, followed in zip(minute[ts], events["direction"], events["followed"], strict=True):
        if followed:
            step[t + 1 : t + 1 + PATTERN.move_minutes] = sign * PATTERN.move / PATTERN.move_minutes
    extra = np.log(planted["close"]).diff() - np.log(plain["close"]).diff() - step
    per_day = pd.Series(extra.to_numpy()).groupby(plain["timestamp"].dt.date.to_numpy())
    assert (per_day.max() - per_day.min()).max() < 1e-12
    quote = planted["volume"] * planted["close"] / (plain["volume"] * plain["close"])
    np.testing.assert_allclose(quote, 1.0, rtol=1e-5)  # the same turnover: no volume motif
    assert events["followed"].any() and (~events["followed"]).any()


def test_the_label_at_the_minute_follows_the_weekday():
    days = 42
    _, planted, source = _pair(days)
    events = source.planted_events(PLANTED, START, START + pd.Timedelta(days=days))
    labels = compute_labels(planted).set_index("timestamp")["label"]
    at_t = labels.reindex(events["timestamp"]).to_numpy()
    up, followed = events["direction"].to_numpy() > 0, events["followed"].to_numpy()
    assert abs(followed.mean() - PATTERN.follow) < 0.15
    base_up, base_down = (labels.dropna() == UP).mean(), (labels.dropna() == DOWN).mean()
    p_up, p_down = (at_t[up & followed] == UP).mean(), (at_t[~up & followed] == DOWN).mean()
    assert p_up > 0.75 and p_down > 0.75
    assert p_up > 2.5 * base_up and p_down > 2.5 * base_down


def test_only_the_clock_tells_the_minute_from_its_neighbours():
    """At the decision minute (before the move) the newest row's 15 channels barely tell it
    from the minutes half an hour to an hour around it (cross-validated AUC about 0.6 over 90
    days: the VWAP's spread grows through the day); the calendar channels single it out."""
    days = 90
    _, planted, source = _pair(days)
    end = START + pd.Timedelta(days=days)
    events = source.planted_events(PLANTED, START, end)
    features = compute_features(planted).set_index("timestamp")
    offsets = (-60, -45, -30, 30, 45, 60)
    at = pd.concat([events["timestamp"] + pd.Timedelta(minutes=m) for m in (0, *offsets)])
    is_event = np.arange(len(at)) < len(events)
    inside = ((at >= START) & (at < end)).to_numpy()
    at, is_event = at[inside], is_event[inside]
    x = features.loc[at, list(FEATURE_CHANNELS)].to_numpy(np.float64)
    x[:, : len(PRICE_CHANNELS)] = x[:, : len(PRICE_CHANNELS)] / x[:, [3]] - 1
    x = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    spec = cross_val_predict(
        LogisticRegression(max_iter=2000), x, is_event, cv=folds, method="predict_proba"
    )
    assert roc_auc_score(is_event, spec[:, 1]) < 0.7
    clock = CALENDAR.compute(planted, None, None).set_index(planted["timestamp"]).loc[at]
    c = clock[list(CALENDAR.channels)].to_numpy(np.float64)
    minute = np.angle(c[:, 1] + 1j * c[:, 0]) * 1440 / (2 * np.pi) % 1440
    np.testing.assert_array_equal(np.round(minute) == PATTERN.minute_of_day, is_event)


def test_months_join_and_other_symbols_are_untouched():
    source = SyntheticSource(0, planted_symbols=[PLANTED], pattern=PATTERN)
    a, b, c = (pd.Timestamp(d, tz="UTC") for d in ("2024-01-29", "2024-02-01", "2024-02-03"))
    pd.testing.assert_frame_equal(
        pd.concat([source.fetch(PLANTED, a, b), source.fetch(PLANTED, b, c)], ignore_index=True),
        source.fetch(PLANTED, a, c),
    )
    pd.testing.assert_frame_equal(
        source.fetch("BTCUSDT", a, c), SyntheticSource(0).fetch("BTCUSDT", a, c)
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"follow": 1.5},
        {"move_minutes": 0},
        {"minute_of_day": 1439},
        {"minute_of_day": -1},
        {"up_weekdays": (7,)},
    ],
)
def test_bad_calendar_pattern_is_refused(fields):
    with pytest.raises(ValueError, match="CalendarPattern"):
        CalendarPattern(**fields)
