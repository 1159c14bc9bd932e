"""What the report assets (test_metrics, backtest_report, wf_report) share in the Dagster UI:
the headline as the first metadata entry, flat numeric keys the Plots tab draws across
materializations, the plots by name, and two warning checks per symbol partition."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import dagster as dg

from resnet_pipeline.number_format import rounded
from resnet_pipeline.partitions import Partitions
from resnet_pipeline.reports.page import Figure
from resnet_pipeline.verdicts import Headline

HEADLINE = "headline"
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
    **more: object,
) -> dict[str, object]:
    """The headline first, then flat numbers (4 significant digits; undefined ones left out,
    the headline says why), the plots, then ``more``."""
    flat = {**headline.flat(), **numbers}
    shown = {
        k: v if isinstance(v, int) and not isinstance(v, bool) else rounded(v)
        for k, v in flat.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    return {
        HEADLINE: dg.MetadataValue.md(headline.markdown()),
        **{k: v for k, v in shown.items() if v is not None},
        **{f.name: dg.MetadataValue.md(f.markdown()) for f in figures},
        **more,
    }
