"""The `calendar` family: minute of the UTC day and day of the week as sin/cos pairs, so that
23:59 sits next to 00:00 and Sunday next to Monday."""

from __future__ import annotations

import numpy as np
import pandas as pd

from resnet_pipeline.features.family import ChannelFamily, over_minutes

DAY_MINUTES = 1440
WEEK_DAYS = 7
CHANNELS: tuple[str, ...] = (
    "minute_of_day_sin",
    "minute_of_day_cos",
    "day_of_week_sin",
    "day_of_week_cos",
)


def calendar_channels(frame: pd.DataFrame, _other: pd.DataFrame | None) -> dict[str, np.ndarray]:
    ts = frame["timestamp"].dt.tz_convert("UTC")
    minute = (ts.dt.hour * 60 + ts.dt.minute).to_numpy(np.float64)
    day = ts.dt.day_of_week.to_numpy(np.float64)  # Monday 0
    day_angle, week_angle = 2 * np.pi * minute / DAY_MINUTES, 2 * np.pi * day / WEEK_DAYS
    return {
        "minute_of_day_sin": np.sin(day_angle),
        "minute_of_day_cos": np.cos(day_angle),
        "day_of_week_sin": np.sin(week_angle),
        "day_of_week_cos": np.cos(week_angle),
    }


CALENDAR = ChannelFamily(
    name="calendar",
    channels=CHANNELS,
    history_minutes=0,
    compute=over_minutes(CHANNELS, 0, calendar_channels),
)
