"""What the best trial's model looked at, for the experiment report: the permutation
importances its folds recorded in ``fold.json`` (``fold_files.IMPORTANCE``), pooled over the
folds with their interval across folds (``ml.evaluation.importance_pooling``), and one line
naming the channel relied on most.

Read on the direction AUC (``READ_ON``): what tells up from down is what a strategy trades on;
log loss and the one-vs-rest AUC also credit the channels that tell a move from no move
(volatility), on any market (``permutation_importance``'s docstring)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from resnet_pipeline.experiments.fold_files import IMPORTANCE
from resnet_pipeline.ml.evaluation.importance_pooling import LEVEL, pooled_importance
from resnet_pipeline.ml.evaluation.permutation_importance import (
    CHANNEL,
    COLUMNS,
    importance_records,
)
from resnet_pipeline.number_format import interval, short

READ_ON = "direction_auc"


def fold_importances(folds: Sequence[Mapping]) -> dict[str, pd.DataFrame]:
    """{fold month: importance frame} of the folds that measured importances, oldest first."""
    measured = sorted((f for f in folds if f.get(IMPORTANCE)), key=lambda f: f["month"])
    return {f["month"]: pd.DataFrame(list(f[IMPORTANCE]), columns=list(COLUMNS)) for f in measured}


def looks_at_line(trial: str, pooled: pd.DataFrame, metric: str = READ_ON) -> str:
    """The channel the trial's model relied on most and whether its interval is above 0."""
    table = model_ranking(pooled, metric)
    name, top = table.index[0], table.iloc[0]
    low, high = top["low"], top["high"]
    has_interval = pd.notna(low) and pd.notna(high)
    if has_interval and low > 0:
        reading = f"relied on ({LEVEL:.0%} interval across folds above 0)"
    elif has_interval:
        reading = f"not told apart from 0 (its {LEVEL:.0%} interval across folds reaches 0)"
    else:
        reading = "one fold: no interval"
    folds = int(top["folds"])
    shown = f" {interval(low, high, 3)}" if has_interval else ""
    return (
        f"{trial}'s model looks at {name} first: shuffling it loses {short(top['mean'])} of "
        f"Up-vs-Down AUC{shown} over {folds} fold{'s' if folds != 1 else ''}, {reading}"
    )


def importance_summary(trial: str, folds: Sequence[Mapping]) -> dict | None:
    """Plain values for the report's summary: each fold's importances, their pooling and the
    line; None when no fold of the trial measured them."""
    per_fold = fold_importances(folds)
    if not per_fold:
        return None
    pooled = pooled_importance(per_fold)
    return {
        "trial": trial,
        "read_on": READ_ON,
        "line": looks_at_line(trial, pooled),
        "pooled": importance_records(pooled),
        "folds": {month: importance_records(frame) for month, frame in per_fold.items()},
    }


# The planted market's known answer (``market.planted``): its edge lives only in the order of
# volume inside the window, which volume and volume_ratio (the volume over its 20-minute mean)
# both show; every price and indicator channel stays below this share of the top one.
VOLUME_CHANNELS = ("volume", "volume_ratio")
NEAR_ZERO_SHARE = 0.2


def model_ranking(pooled: pd.DataFrame, metric: str = READ_ON) -> pd.DataFrame:
    """The model's channels pooled over folds on ``metric``: name -> rank, mean, low, high."""
    chosen = pooled[
        (pooled["predictor"] == "model")
        & (pooled["kind"] == CHANNEL)
        & (pooled["metric"] == metric)
    ]
    return chosen.set_index("name")[["rank", "mean", "low", "high", "folds"]].sort_values("rank")


def above_zero(table: pd.DataFrame) -> pd.Series:
    """Which channels' interval across folds lies above 0."""
    low = pd.to_numeric(table["low"], errors="coerce")
    return low.notna() & (low > 0)


def known_answer_failures(pooled: pd.DataFrame, planted: bool) -> list[str]:
    """What the model's importances get wrong about the synthetic market (none: the known
    answer holds): on a planted symbol a volume channel ranks first with its interval above 0
    and every other channel stays below ``NEAR_ZERO_SHARE`` of it; on pure noise no channel's
    interval lies above 0."""
    table = model_ranking(pooled)
    if not planted:
        found = table[above_zero(table)]
        return [f"{list(found.index)} have intervals above 0 on noise"] if len(found) else []
    top = table.index[0]
    if top not in VOLUME_CHANNELS or not above_zero(table)[top]:
        shown = interval(table.loc[top, "low"], table.loc[top, "high"])
        return [f"{top} ranks first ({shown}), not a volume channel with its interval above 0"]
    others = table.drop([c for c in VOLUME_CHANNELS if c in table.index])
    loud = others[others["mean"] > NEAR_ZERO_SHARE * table.loc[top, "mean"]]
    if len(loud):
        return [f"{list(loud.index)} above {NEAR_ZERO_SHARE:.0%} of {top}'s importance"]
    return []
