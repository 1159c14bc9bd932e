"""The other report that answers a symbol's question: the main job's backtest and each
experiment's report on the symbol. Each links the other with the one line that says where
their settings differ (``settings_difference``), so a reader who finds two different answers
learns why from either page. Read from the files the other report stored; a report that is
not there, or that an older version wrote without its settings, is not linked."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from resnet_pipeline.artifacts import exists, read_json
from resnet_pipeline.layout import Layout
from resnet_pipeline.ml.evaluation.run_settings import RunSettings, settings_difference
from resnet_pipeline.reports.first_screen import OtherView


def _stored_settings(values: object) -> RunSettings | None:
    if not isinstance(values, Mapping):
        return None
    try:
        return RunSettings.from_dict(values)
    except (KeyError, TypeError, ValueError):
        return None


def _link(target: object, start: object) -> str:
    """``target`` relative to the folder of ``start``: the link works wherever the data root
    is opened or served from."""
    return os.path.relpath(str(target), os.path.dirname(str(start)))


def main_job_view(layout: Layout, symbol: str, this: RunSettings, here: object) -> OtherView | None:
    """The main job's backtest of ``symbol`` as seen from an experiment's report at ``here``."""
    files = layout.reports(symbol)
    if not exists(files.backtest_metrics) or not exists(files.backtest_html):
        return None
    try:
        other = _stored_settings(read_json(files.backtest_metrics).get("run_settings"))
    except (OSError, json.JSONDecodeError):
        return None
    if other is None:
        return None
    reason = settings_difference(this, other, "this experiment's best trial", "the main job")
    return OtherView(
        _link(files.backtest_html, here), reason, f"the main job's backtest of {symbol}"
    )


def experiment_views(
    layout: Layout, symbol: str, this: RunSettings, here: object
) -> list[OtherView]:
    """Every experiment's report on ``symbol``, as seen from the main job's backtest at
    ``here``: the best trial's settings against this job's."""
    folder = layout.root / "experiments"
    if not exists(folder):
        return []
    views = []
    for experiment in sorted(p.name for p in folder.iterdir()):
        files = layout.experiment(experiment, symbol).report
        if not exists(files.summary) or not exists(files.html):
            continue
        try:
            summary = read_json(files.summary)
            best = next(
                line for line in summary["leaderboard"] if line["trial"] == summary["best_trial"]
            )
        except (OSError, json.JSONDecodeError, KeyError, StopIteration, TypeError):
            continue
        other = _stored_settings(best.get("run_settings"))
        if other is None:
            continue
        name = f"experiment {experiment}'s best trial ({best['trial']})"
        reason = settings_difference(this, other, "this job", name)
        views.append(OtherView(_link(files.html, here), reason, f"experiment {experiment}"))
    return views
