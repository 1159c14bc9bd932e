"""A trial's line on the leaderboard, scored on the minutes every scored trial predicted.

Variants differ in their eligible minutes (a longer label horizon loses the tail of the data, a
volatility-scaled threshold its first day, a longer window a few minutes after each gap), so
each trial is scored on the intersection of every scored trial's predicted minutes: any two
lines then compare the same minutes and days. The report states how many minutes that is.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from resnet_pipeline.experiments.intervals import metric_intervals, point_metrics
from resnet_pipeline.experiments.variant_fold import BASELINES, proba
from resnet_pipeline.ml.evaluation.calibration import expected_calibration_error


def common_minutes(frames: Mapping[str, pd.DataFrame]) -> pd.DatetimeIndex:
    """The minutes every frame predicted, in time order."""
    stamps = [pd.DatetimeIndex(pd.to_datetime(f["timestamp"], utc=True)) for f in frames.values()]
    if not stamps:
        return pd.DatetimeIndex([], tz="UTC")
    common = stamps[0]
    for other in stamps[1:]:
        common = common.intersection(other)
    return common.sort_values()


def on_minutes(frame: pd.DataFrame, minutes: pd.DatetimeIndex) -> pd.DataFrame:
    """The rows of ``frame`` at ``minutes``, in time order."""
    stamps = pd.to_datetime(frame["timestamp"], utc=True)
    kept = frame.loc[stamps.isin(minutes).to_numpy()].assign(timestamp=stamps)
    return kept.sort_values("timestamp").reset_index(drop=True)


def _days(frame: pd.DataFrame) -> np.ndarray:
    return frame["timestamp"].dt.floor("D").to_numpy()


def _month_wins(frame: pd.DataFrame, used: str) -> dict[str, int]:
    """Months in which the variant's accuracy and AUC each beat a baseline's."""
    wins = {f"{metric}_vs_{b}": 0 for b in BASELINES for metric in ("accuracy", "auc_roc_ovr")}
    for _, month in frame.groupby("fold", sort=True):
        y = month["label"].to_numpy(np.int64)
        mine = point_metrics(y, proba(month, used))
        for base in BASELINES:
            theirs = point_metrics(y, proba(month, base))
            for metric in ("accuracy", "auc_roc_ovr"):
                if mine[metric] is not None and theirs[metric] is not None:
                    wins[f"{metric}_vs_{base}"] += int(mine[metric] > theirs[metric])
    return wins


def leaderboard_line(frame: pd.DataFrame, used: str, n_boot: int, seed: int) -> dict:
    """Pooled metrics of the probabilities the trial's strategy reads (``used``), each with its
    day-block 95% interval, the baselines' pooled metrics, months won, and calibration (ECE of
    the raw and the temperature-scaled probabilities)."""
    y = frame["label"].to_numpy(np.int64)
    line: dict = {"samples": int(len(y)), "months": int(frame["fold"].nunique())}
    line["intervals"] = metric_intervals(y, proba(frame, used), _days(frame), n_boot, seed)
    for base in BASELINES:
        line[base] = point_metrics(y, proba(frame, base))
    line["months_won"] = _month_wins(frame, used)
    before = expected_calibration_error(proba(frame, "model"), y)
    after = expected_calibration_error(proba(frame, "calibrated"), y)
    line["calibration"] = {"before": before.to_dict(), "after": after.to_dict()}
    return line
