"""The one builder of both research reports (SPEC 13, 14): a walk-forward report is the report
of one trial with its per-month diagnostics, an experiment report leads with what ranks its N
trials, then draws its best trial the same way.

Each report gives a headline (its verdict's conditions), the figures that lead it (the
experiment's: every trial's Sharpe and the best one's calibration), one trial's view
(``TrialView``: its equity against buy-and-hold and its predictions' diagnostics, and for a
walk-forward the per-month differences, class mix, training curves per fold and drift), its
tables and notes; ``research_page`` lays them out as one self-contained HTML page
(``reports.page``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from resnet_pipeline.reports.page import Figure, page
from resnet_pipeline.reports.report_figures import (
    classification_figures,
    drift_figure,
    equity_figure,
    fold_training_figure,
    prediction_figures,
)
from resnet_pipeline.verdicts import Headline


@dataclass(frozen=True)
class TrialView:
    """One trial as a report draws it."""

    # timestamp, p_down, p_neutral, p_up (the probabilities its strategy reads), label, fold
    predictions: pd.DataFrame
    threshold: float  # the strategy's
    equity: pd.Series
    benchmark: pd.Series  # buy-and-hold of the same bars
    # per-month diagnostics (a walk-forward): ``monthly_table`` rows with intervals, the
    # majority class's name, each fold's training history, the channels' drift
    monthly: Sequence[dict] = ()
    majority: str = ""
    histories: dict[str, list[dict]] | None = None
    drift: pd.DataFrame | None = None


def trial_figures(view: TrialView) -> list[Figure]:
    """The trial's figures: per-month differences (with monthly rows), equity, class mix,
    the predictions' diagnostics, training curves per fold and drift (when given)."""
    equity = equity_figure(view.equity, view.benchmark)
    if not view.monthly:
        return [equity, *prediction_figures(view.predictions, view.threshold)]
    shared = classification_figures(
        view.predictions, list(view.monthly), view.majority, view.threshold
    )
    figures = [shared[0], equity, *shared[1:]]
    if view.histories is not None:
        figures.append(fold_training_figure(view.histories))
    if view.drift is not None:
        figures.append(drift_figure(view.drift))
    return figures


@dataclass(frozen=True)
class ResearchPage:
    html: str
    headline: Headline
    figures: list[Figure]


def research_page(
    title: str,
    lead: str,
    headline: Headline,
    view: TrialView,
    tables: list[tuple[str, str]],
    notes: list[str],
    closing: list[tuple[str, list[str]]],
    leading: Sequence[Figure] = (),
    rests_on: str = "",
) -> ResearchPage:
    """The page: headline, what it rests on (``first_screen``), ``leading`` figures then the
    trial's, tables, notes, ``closing``."""
    figures = [*leading, *trial_figures(view)]
    html = page(title, lead, headline, figures, tables, notes, closing, rests_on)
    return ResearchPage(html, headline, figures)
