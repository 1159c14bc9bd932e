"""The stitched out-of-sample series judged (SPEC 13): metrics per month and pooled beside the
per-fold baselines, bootstrap intervals, the probabilistic Sharpe ratio and a verdict.

Verdict rule, stated in every report: "edge" only when, at 95%, (1) the model's accuracy
beats the majority baseline's, (2) its AUC beats the logistic baseline's (both: the lower
bound of the paired day-block bootstrap interval of the difference is above 0), and (3) the
strategy's Sharpe after costs is above 0 (lower bound of its interval). Anything else is
"no edge detected at 95%", every condition said in words (``verdicts``): better,
no different, worse, or undefined with the true reason (e.g. 0 trades).

Pooled AUC (``AUC_RULE``): the baselines are refitted per fold, so the majority baseline is
a different constant each month; ranking all months' probabilities together would turn those
constants into a score that tracks the months' class shares (an AUC away from 0.5 from a
predictor that ranks nothing). Pooled AUCs are therefore computed on ranks within each month.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from resnet_pipeline.features.labels import CLASS_NAMES
from resnet_pipeline.ml.evaluation.baselines import PROBA_COLUMNS
from resnet_pipeline.ml.evaluation.bootstrap import (
    BLOCK_RULE,
    classification_intervals,
    probabilistic_sharpe_ratio,
    sharpe_intervals,
)
from resnet_pipeline.ml.evaluation.shown_metrics import SHOWN, macro_auc, normalized, shown_metrics
from resnet_pipeline.number_format import percent, short, signed_percent
from resnet_pipeline.verdicts import (
    BETTER,
    Condition,
    Headline,
    difference,
    level,
    majority_name,
)

AUC_RULE = (
    "pooled AUC = one-vs-rest AUC of each month's probabilities turned into mid-rank "
    "percentiles within that month ((rank - 1/2) / n), so only the ordering inside a month "
    "counts: a predictor constant within every month scores 0.5"
)
NO_SHARPE = "fewer than 3 days, or daily returns without variation"


@dataclass
class Verdict:
    edge: bool
    line: str
    reasons: list[str]
    headline: Headline


def proba_of(frame: pd.DataFrame, name: str) -> np.ndarray:
    return frame[list(PROBA_COLUMNS[name])].to_numpy(np.float64)


def day_keys(frame: pd.DataFrame) -> np.ndarray:
    """Each row's UTC day as datetime64 (the bootstrap's unit)."""
    stamps = pd.to_datetime(frame["timestamp"], utc=True)
    return stamps.dt.floor("D").dt.tz_localize(None).to_numpy()


def month_ranks(frame: pd.DataFrame, name: str) -> np.ndarray:
    """[N, K] the predictor's probabilities as mid-rank percentiles within each ``fold``
    month, (rank - 1/2) / n: ties share their mean rank, a constant month is 0.5 exactly."""
    proba = proba_of(frame, name)
    out = np.empty_like(proba)
    for positions in frame.groupby("fold", sort=False).indices.values():
        out[positions] = (rankdata(proba[positions], axis=0) - 0.5) / len(positions)
    return out


def pooled_metrics(
    frame: pd.DataFrame, ranks: dict[str, np.ndarray] | None = None
) -> dict[str, dict]:
    """``SHOWN`` per predictor over every month, the AUC by ``AUC_RULE`` (``ranks``: each
    predictor's ``month_ranks`` when already computed)."""
    y = frame["label"].to_numpy(np.int64)
    ranks = ranks or {name: month_ranks(frame, name) for name in PROBA_COLUMNS}
    out = {}
    for name in PROBA_COLUMNS:
        metrics = shown_metrics(y, proba_of(frame, name))
        metrics["auc_roc_ovr"] = macro_auc(y, ranks[name]) if len(y) else None
        out[name] = metrics
    return out


DIFFERENCES = ("model_minus_majority_accuracy", "model_minus_logistic_auc")


def month_row(
    month: str, frame: pd.DataFrame, days: np.ndarray, n_boot: int = 200, seed: int = 0
) -> dict:
    """One month's row of ``monthly_table``."""
    y = frame["label"].to_numpy(np.int64)
    proba = {name: proba_of(frame, name) for name in PROBA_COLUMNS}
    predicted = normalized(proba["model"]).argmax(axis=1)
    row: dict = {
        "month": month,
        "samples": int(len(y)),
        "label_shares": (np.bincount(y, minlength=3) / max(len(y), 1)).tolist(),
        "predicted_shares": (np.bincount(predicted, minlength=3) / max(len(y), 1)).tolist(),
    }
    for name, p in proba.items():
        metrics = shown_metrics(y, p)
        row |= {f"{name}_{k}": metrics[k] for k in SHOWN}
    intervals = classification_intervals(y, proba, days, n_boot=n_boot, seed=seed)
    for metric in ("accuracy", "auc"):
        row[f"model_{metric}_low"] = intervals[f"model_{metric}"]["low"]
        row[f"model_{metric}_high"] = intervals[f"model_{metric}"]["high"]
    for key in DIFFERENCES:
        row |= {f"{key}{end}": intervals[key][part] for end, part in _PARTS}
    return row


_PARTS = (("", "estimate"), ("_low", "low"), ("_high", "high"))


def monthly_table(stitched: pd.DataFrame, n_boot: int = 200, seed: int = 0) -> list[dict]:
    """One row per fold month: the model's and both baselines' metrics, the model's class
    mix, its accuracy and AUC intervals and its differences to the baselines with theirs
    (day-block bootstrap within the month, paired)."""
    days = day_keys(stitched)
    rows = []
    for month, positions in sorted(stitched.groupby("fold", sort=True).indices.items()):
        frame = stitched.iloc[positions]
        rows.append(month_row(month, frame, days[positions], n_boot, seed))
    return rows


def beats_count(rows: list[dict]) -> dict[str, int]:
    """In how many folds the model's accuracy / AUC beats each baseline's."""
    out = {}
    for base in ("majority", "logistic"):
        for metric in ("accuracy", "auc_roc_ovr"):
            out[f"{metric}_vs_{base}"] = sum(
                1
                for r in rows
                if r[f"model_{metric}"] is not None
                and r[f"{base}_{metric}"] is not None
                and r[f"model_{metric}"] > r[f"{base}_{metric}"]
            )
    return out


def classification_conditions(
    classification: dict, majority: str = "the majority class"
) -> tuple[Condition, Condition]:
    """Accuracy over the majority baseline and AUC over the logistic one, in words."""
    return (
        difference(
            f"accuracy over {majority}",
            "accuracy_minus_majority",
            classification.get("model_minus_majority_accuracy"),
            "no predicted minute",
            points=True,
        ),
        difference(
            "AUC over the logistic regression",
            "auc_minus_logistic",
            classification.get("model_minus_logistic_auc"),
            "a class is absent from the labels",
        ),
    )


def sharpe_condition(trading: dict, why_no_sharpe: str = NO_SHARPE) -> Condition:
    return level("Sharpe after costs over 0", "sharpe", trading.get("sharpe"), why_no_sharpe)


def verdict(
    classification: dict,
    trading: dict,
    majority: str = "the majority class",
    why_no_sharpe: str = NO_SHARPE,
) -> Verdict:
    """The rule in this module's docstring, in words: one condition per line."""
    conditions = (
        *classification_conditions(classification, majority),
        sharpe_condition(trading, why_no_sharpe),
    )
    headline = Headline(conditions)
    reasons = [c.line for c in conditions if c.word != BETTER]
    lead = "edge at 95%: " if headline.edge else "no edge detected at 95%: "
    return Verdict(headline.edge, lead + "; ".join(c.line for c in conditions), reasons, headline)


def walk_forward_summary(
    stitched: pd.DataFrame,
    strategy_daily: pd.Series,
    benchmark_daily: pd.Series,
    n_boot: int = 1000,
    seed: int = 0,
    why_no_sharpe: str = NO_SHARPE,
) -> dict:
    """Everything the report shows, as plain values. ``strategy_daily`` /
    ``benchmark_daily``: daily returns of the stitched backtest and of buy-and-hold;
    ``why_no_sharpe``: the reason the verdict gives when the Sharpe is undefined (e.g. the
    backtest's zero-trade explanation)."""
    y = stitched["label"].to_numpy(np.int64)
    proba = {name: proba_of(stitched, name) for name in PROBA_COLUMNS}
    ranks = {name: month_ranks(stitched, name) for name in PROBA_COLUMNS}
    classification = classification_intervals(
        y, proba, day_keys(stitched), n_boot=n_boot, seed=seed, auc_scores=ranks
    )
    returns = strategy_daily.to_numpy(np.float64)
    trading = sharpe_intervals(returns, benchmark_daily.to_numpy(np.float64), n_boot, seed)
    rows = monthly_table(stitched, max(n_boot // 5, 50), seed)
    majority = majority_name(CLASS_NAMES, proba["majority"])
    decided = verdict(classification, trading, majority, why_no_sharpe)
    return {
        "folds": len(rows),
        "samples": int(len(y)),
        "period": [str(stitched["timestamp"].iloc[0]), str(stitched["timestamp"].iloc[-1])],
        "monthly": rows,
        "pooled": pooled_metrics(stitched, ranks),
        "intervals": {"classification": classification, "trading": trading},
        "probabilistic_sharpe_ratio": probabilistic_sharpe_ratio(returns),
        "folds_model_beats": beats_count(rows),
        "verdict": decided.line,
        "edge": decided.edge,
        "headline": {"title": decided.headline.title, "lines": decided.headline.lines()},
        "flat": decided.headline.flat(),
        "majority": majority,
        "why_no_sharpe": why_no_sharpe,
        "auc_rule": AUC_RULE,
        "bootstrap": f"{BLOCK_RULE}; {n_boot} resamples; percentile intervals",
    }


def summary_headline(summary: dict, why: str = "") -> Headline:
    """The headline of a stored summary (recomputed from its intervals, so an older report
    reads by today's words): the verdict's conditions, then trades and returns (``why``:
    the report's account of them, ``reports.trade_story.why_line``), the probabilistic
    Sharpe ratio and the months won."""
    intervals = summary["intervals"]
    decided = verdict(
        intervals["classification"],
        intervals["trading"],
        summary["majority"],
        summary["why_no_sharpe"],
    )
    notes = []
    strategy, hold = summary.get("strategy") or {}, summary.get("buy_and_hold") or {}
    if why:
        notes += [
            why,
            f"buy-and-hold over the same minutes: {signed_percent(hold.get('total_return'))}",
        ]
    elif strategy:
        notes.append(
            f"{strategy.get('trades', 0):,} trades: total return after costs "
            f"{percent(strategy.get('total_return'))}, buy-and-hold "
            f"{percent(hold.get('total_return'))} over the same minutes"
        )
    psr = summary["probabilistic_sharpe_ratio"]
    notes.append(
        "probabilistic Sharpe ratio (P(true Sharpe > 0)): "
        + (short(psr) if psr is not None else f"undefined ({summary['why_no_sharpe']})")
    )
    beats, folds = summary["folds_model_beats"], summary["folds"]
    notes.append(
        f"months won: accuracy over the majority class in {beats['accuracy_vs_majority']} of "
        f"{folds}, AUC over the logistic regression in {beats['auc_roc_ovr_vs_logistic']} of "
        f"{folds}"
    )
    lead = "edge at 95%" if decided.edge else "no edge detected at 95%"
    rule = f"{lead}: EDGE needs all three conditions better, i.e. their 95% lower bounds above 0"
    return Headline(decided.headline.conditions, tuple(notes), rule)


def row_intervals(row: dict) -> dict[str, dict]:
    """A monthly row's differences as interval dicts (what the conditions read)."""
    return {key: {part: row.get(f"{key}{end}") for end, part in _PARTS} for key in DIFFERENCES}


def split_intervals(frame: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> dict[str, dict]:
    """Accuracy and AUC of the model and both baselines on one model's predictions (a test
    split), and the model minus each, with day-block bootstrap intervals."""
    proba = {name: proba_of(frame, name) for name in PROBA_COLUMNS}
    y = frame["label"].to_numpy(np.int64)
    return classification_intervals(y, proba, day_keys(frame), n_boot=n_boot, seed=seed)
