"""What the report assets (test_metrics, backtest_report, wf_report) share in the Dagster UI:
the headline as the first metadata entry and the key figure beside it, the figures as text, the
plots by name, and two warning checks per symbol partition (WARN: the UI marks a failed one
with a yellow warning sign, never a red cross)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import dagster as dg

from resnet_pipeline.defs.metadata import as_series, as_text
from resnet_pipeline.partitions import Partitions
from resnet_pipeline.reports.page import Figure
from resnet_pipeline.verdicts import Headline

HEADLINE = "headline"
KEY_FIGURE = "key_figure"


def key_figure(markdown: str | None) -> dict[str, object]:
    """A report's key figure (Markdown under the inline limit), when there is one to draw."""
    return {KEY_FIGURE: dg.MetadataValue.md(markdown)} if markdown else {}


HAS_TRADES = "has_trades"
NOT_WORSE = "not_worse_than_baselines"
CHECK_DESCRIPTIONS = {
    HAS_TRADES: "Warns when the strategy made no trade (the report says why: how close p_up "
    "and p_down came to the threshold, and whether shorts were allowed).",
    NOT_WORSE: "Warns when a headline condition reads 'worse': the model's difference to a "
    "baseline has a 95% interval wholly below 0.",
}


def report_check_specs(
    partitions: Partitions, asset: str, names: Iterable[str]
) -> list[dg.AssetCheckSpec]:
    """The warning checks of a report asset, per symbol partition."""
    return [
        dg.AssetCheckSpec(
            name,
            asset=asset,
            description=CHECK_DESCRIPTIONS[name],
            partitions_def=partitions.symbol,
        )
        for name in names
    ]


def trades_check(trades: int, why_none: str) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=HAS_TRADES,
        passed=trades > 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{trades:,} trades" if trades else f"warning: {why_none}",
        metadata={"trades": trades},
    )


def worse_check(headline: Headline) -> dg.AssetCheckResult:
    worse = headline.worse
    return dg.AssetCheckResult(
        check_name=NOT_WORSE,
        passed=not worse,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            "warning: " + "; ".join(c.line for c in worse)
            if worse
            else "no condition reads worse than its reference"
        ),
        metadata={"conditions_worse": len(worse)},
    )


def report_metadata(
    headline: Headline,
    numbers: Mapping[str, float | int | None],
    figures: list[Figure],
    key_figures: Mapping[str, object] | None = None,
    resolution: float = 0.001,
    over_months: bool = False,
    currency: str = "",
    **more: object,
) -> dict[str, object]:
    """The headline first and the key figures under it (Markdown under the UI's inline limit
    or tables: shown without a click), then the figures as text (a symbol's report is no time
    series: the Plots tab would join one symbol's value to another's), the plots by name,
    then ``more``; undefined figures are left out (the headline says why). ``over_months``: the
    partitions are months, so the figures stay numbers (a series on the Plots tab);
    ``currency``: the quote currency amounts are in."""
    flat = {**headline.flat(), **numbers}
    shown = {
        k: v for k, v in flat.items() if isinstance(v, int | float) and not isinstance(v, bool)
    }
    if over_months:
        figures_shown = as_series(shown)
    else:  # a condition's own text keeps its value on its side of the threshold
        figures_shown = as_text(shown, resolution, currency) | {
            c.key: c.shown for c in headline.conditions if c.shown and c.key in shown
        }
    return {
        HEADLINE: dg.MetadataValue.md(headline.markdown()),
        **as_text(key_figures or {}),
        **figures_shown,
        **{f.name: dg.MetadataValue.md(f.markdown()) for f in figures},
        **as_text(more, resolution),
    }
