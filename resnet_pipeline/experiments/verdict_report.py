"""The experiment report's content (SPEC 14): the leaderboard of every trial in the ledger and
the verdict that counts them all.

- **N** is the ledger's size: every configuration ever evaluated for the experiment and
  symbol, whether its variant is still in the file, was edited (its old configuration is another
  trial) or deleted. A trial is *scored* once it has predictions for every month of the
  experiment; one still missing months counts in N (it raises the deflated Sharpe's bar) but has
  no returns to rank, and the report names it with the command that completes it.
- **Common minutes**: scored trials are compared on the minutes all of them predicted
  (``scoring.common_minutes``), classification and trading alike.
- **Benchmarks** of the SPA test: buy-and-hold of the same bars (with the experiment's base
  costs), and the best baseline: of every scored trial's majority, logistic and trees
  baselines, each traded with that trial's strategy rules, the one with the highest mean daily
  return.
- **Verdict**: ``ml.trial_statistics.trial_verdict`` over the scored trials' daily returns with
  N = the ledger's size and each trial's trades on the common minutes (the floor on evidence:
  ``TrialTests.min_trades`` and ``min_active_days``). Each leaderboard line lists the
  benchmarks Romano-Wolf's StepM finds that trial better than at 5% (``beats``).
- **What the best trial looks at**: its folds' permutation importances pooled over folds
  (``trial_importance``), when its variant measured them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from resnet_pipeline.experiments.experiment_file import Experiment
from resnet_pipeline.experiments.ledger import TrialRecord
from resnet_pipeline.experiments.scoring import common_minutes, leaderboard_line, on_minutes
from resnet_pipeline.experiments.strategy_returns import (
    backtest_of,
    benchmark_daily,
    daily,
    mean_return,
)
from resnet_pipeline.experiments.trial_importance import importance_summary
from resnet_pipeline.experiments.variant_config import VariantConfig
from resnet_pipeline.experiments.variant_fold import (
    BASELINES,
    EXPERIMENT_COLUMNS,
    strategy_columns,
)
from resnet_pipeline.knobs import check_knobs, knob
from resnet_pipeline.ml.evaluation.bootstrap import BLOCK_RULE, sharpe_intervals
from resnet_pipeline.ml.evaluation.bootstrap_config import MIN_RESAMPLES, BootstrapConfig
from resnet_pipeline.ml.evaluation.run_settings import RunSettings, TrainingBudget
from resnet_pipeline.ml.trial_statistics.backtest_overfitting import DEFAULT_BLOCKS, MAX_BLOCKS
from resnet_pipeline.ml.trial_statistics.returns_matrix import per_day_sharpe
from resnet_pipeline.ml.trial_statistics.superior_predictive_ability import DEFAULT_REPS
from resnet_pipeline.ml.trial_statistics.trade_evidence import MIN_ACTIVE_DAYS, MIN_TRADES
from resnet_pipeline.ml.trial_statistics.trial_verdict import TrialVerdict, trial_verdict

BUY_AND_HOLD, BEST_BASELINE = "buy-and-hold", "best baseline"


@dataclass(frozen=True)
class TrialTests:
    """The verdict's own knobs (``BootstrapConfig`` sets the intervals' resamples and seed)."""

    pbo_blocks: int = knob(
        DEFAULT_BLOCKS, "S, the blocks of days of the PBO's CSCV (even)", ge=2, le=MAX_BLOCKS
    )
    spa_reps: int = knob(
        DEFAULT_REPS,
        "stationary-bootstrap replications of the SPA test",
        ge=MIN_RESAMPLES,
        note="fewer cannot bring the p-value below 0.05",
    )
    min_trades: int = knob(
        MIN_TRADES, "trades the best trial needs before the verdict may say edge", ge=1
    )
    min_active_days: int = knob(
        MIN_ACTIVE_DAYS,
        "days with a non-zero return (in the market or paying a fee) the best trial needs "
        "before the verdict may say edge",
        ge=1,
    )

    def __post_init__(self) -> None:
        check_knobs(self)
        if self.pbo_blocks % 2:
            raise ValueError(
                f"pbo_blocks={self.pbo_blocks}: use an even number from 2 to {MAX_BLOCKS} "
                f"(default {DEFAULT_BLOCKS}); a block needs at least 2 days"
            )


@dataclass(frozen=True)
class ReportSettings:
    bootstrap: BootstrapConfig = BootstrapConfig()
    tests: TrialTests = TrialTests()


@dataclass
class TrialInput:
    """A trial of the ledger with its configuration and stitched predictions (every predicted
    month; a ``fold`` column names the month)."""

    record: TrialRecord
    config: VariantConfig
    frame: pd.DataFrame | None  # None: not every month predicted yet
    months_done: list[date] = field(default_factory=list)
    folds: list[dict] = field(default_factory=list)  # each month's fold.json (its training)

    def training(self) -> TrainingBudget:
        """The training its result rests on: each fold's epochs and training windows."""
        return TrainingBudget.of_models(
            [f.get("epochs_run", 0) for f in self.folds],
            [f.get("train_samples", 0) for f in self.folds],
            self.config.train.to_dict(),
        )


@dataclass
class ExperimentReport:
    summary: dict  # plain values: the JSON, the HTML and the metadata read it
    returns: pd.DataFrame  # days x (scored trials, benchmarks): the verdict's input
    verdict: TrialVerdict
    best_equity: pd.Series
    benchmark_equity: pd.Series
    best_trades: pd.DataFrame  # the best trial's trade log on the common minutes
    # the best trial on the common minutes: p_down, p_neutral, p_up are the probabilities its
    # strategy reads; label, fold (the month): what the report's diagnostics draw
    best_predictions: pd.DataFrame


def column_name(record: TrialRecord) -> str:
    """A trial's name in tables: its variant and hash (an edited variant's old and new
    configurations share the name, never the hash)."""
    return f"{record.variant}@{record.config_hash[:8]}"


def standing(record: TrialRecord, experiment: Experiment) -> str:
    """Where the trial stands in the file now (a search's trial: its status in the search)."""
    if record.status is not None:
        return f"search trial, {record.status}" + (f": {record.note}" if record.note else "")
    by_hash = {v.config.config_hash: v.name for v in experiment.variants}
    if record.config_hash in by_hash:
        name = by_hash[record.config_hash]
        return "in the file" if name == record.variant else f"in the file as {name}"
    if experiment.variant(record.variant) is not None:
        return "edited since (the new configuration is another trial)"
    return "deleted from the file"


def _scored_lines(
    scored: list[TrialInput], candles: pd.DataFrame, minutes: pd.DatetimeIndex, cfg: ReportSettings
) -> tuple[list[dict], dict[str, pd.Series], dict[str, pd.Series], dict]:
    lines, returns, baseline_returns, evaluations = [], {}, {}, {}
    period = f"{minutes[0]:%Y-%m-%d} to {minutes[-1]:%Y-%m-%d} (UTC)"
    for trial in scored:
        frame = on_minutes(trial.frame, minutes)
        used = strategy_columns(trial.config)
        name = column_name(trial.record)
        evaluation = backtest_of(candles, frame, used, trial.config.strategy)
        evaluations[name] = evaluation
        returns[name] = daily(evaluation)
        for base in BASELINES:
            baseline = backtest_of(candles, frame, base, trial.config.strategy)
            baseline_returns[f"{base} of {name}"] = daily(baseline)
        line = {"trial": name, "variant": trial.record.variant, "probabilities": used}
        line["threshold"] = trial.config.strategy.threshold
        line |= {"config_hash": trial.record.config_hash, "trades": evaluation.metrics["trades"]}
        line |= leaderboard_line(frame, used, cfg.bootstrap.n_boot, cfg.bootstrap.bootstrap_seed)
        sharpe = sharpe_intervals(
            returns[name].to_numpy(), None, cfg.bootstrap.n_boot, cfg.bootstrap.bootstrap_seed
        )["sharpe"]
        line["intervals"]["sharpe_after_costs"] = sharpe
        line["total_return"] = evaluation.metrics.get("total_return")
        line["run_settings"] = RunSettings(
            trial.config.strategy, trial.training() if trial.folds else None, period
        ).to_dict()
        lines.append(line)
    return lines, returns, baseline_returns, evaluations


def build_experiment_report(
    experiment: Experiment,
    symbol: str,
    trials: list[TrialInput],
    candles: pd.DataFrame,
    cfg: ReportSettings = ReportSettings(),
    unreadable: int = 0,
) -> ExperimentReport:
    """Leaderboard and verdict of every trial in the ledger (``trials``: all of them but
    ``unreadable``, those whose record cannot be read: they count in N all the same)."""
    scored = [t for t in trials if t.frame is not None]
    if not scored:
        raise ValueError(
            f"none of the {len(trials)} trial(s) of {experiment.name} for {symbol} has "
            f"predictions for every month {[f'{m:%Y-%m}' for m in experiment.months]}: "
            "materialize experiment_fold for those months first"
        )
    minutes = common_minutes({column_name(t.record): t.frame for t in scored})
    if minutes.empty:
        raise ValueError(
            f"the scored trials of {experiment.name} for {symbol} share no predicted minute: "
            "their months or sample rules do not overlap"
        )
    lines, returns, baseline_returns, evaluations = _scored_lines(scored, candles, minutes, cfg)
    first = on_minutes(scored[0].frame, minutes)
    base_run = backtest_of(
        candles, first, strategy_columns(scored[0].config), experiment.base.strategy
    )
    buy_and_hold = benchmark_daily(base_run)
    best_baseline = max(baseline_returns, key=lambda k: mean_return(baseline_returns[k]))
    matrix = pd.DataFrame(returns)
    verdict = trial_verdict(
        matrix,
        {BUY_AND_HOLD: buy_and_hold, BEST_BASELINE: baseline_returns[best_baseline]},
        {line["trial"]: line["trades"] for line in lines},
        blocks=cfg.tests.pbo_blocks,
        reps=cfg.tests.spa_reps,
        seed=cfg.bootstrap.bootstrap_seed,
        n_trials=len(trials) + unreadable,
        min_trades=cfg.tests.min_trades,
        min_active_days=cfg.tests.min_active_days,
    )
    per_day = dict(zip(matrix.columns, per_day_sharpe(matrix.to_numpy()), strict=True))
    for line in lines:
        line["per_day_sharpe"] = per_day[line["trial"]]
        line["best"] = line["trial"] == verdict.deflated_sharpe.best_variant
        line["beats"] = [s.benchmark for s in verdict.stepwise if line["trial"] in s.better]
    lines.sort(key=leaderboard_order)
    best = verdict.deflated_sharpe.best_variant or lines[0]["trial"]
    ledger_rows = [
        {
            "trial": column_name(t.record),
            "variant": t.record.variant,
            "config_hash": t.record.config_hash,
            "created": t.record.created,
            "standing": standing(t.record, experiment),
            "months_done": f"{len(t.months_done)} of {len(experiment.months)}",
            "scored": t.frame is not None,
        }
        for t in trials
    ]
    boot = cfg.bootstrap
    summary = {
        "experiment": experiment.name,
        "symbol": symbol,
        "verdict": verdict.line,
        "edge": verdict.edge,
        "n_trials": len(trials) + unreadable,
        "scored_trials": len(scored),
        "months": [f"{m:%Y-%m}" for m in experiment.months],
        "common_minutes": int(len(minutes)),
        "days": int(len(matrix)),
        "period": [str(minutes[0]), str(minutes[-1])],
        "best_trial": best,
        "best_baseline": best_baseline,
        "leaderboard": lines,
        "ledger": ledger_rows,
        "statistics": verdict.to_dict(),
        "benchmark_mean_daily_return": {
            BUY_AND_HOLD: mean_return(buy_and_hold),
            BEST_BASELINE: mean_return(baseline_returns[best_baseline]),
        },
        "conventions": {
            "intervals": f"95% percentile intervals, {BLOCK_RULE}, {boot.n_boot} resamples, "
            f"seed {boot.bootstrap_seed}; the lines resample the same days",
            "sharpe": "daily returns after costs, annualized with 365 days, rf 0, ddof 1; "
            "the verdict uses per-day Sharpe ratios",
            "pbo": f"CSCV over S = {cfg.tests.pbo_blocks} blocks of days",
            "spa": f"Hansen's consistent p-value, stationary bootstrap, {cfg.tests.spa_reps} "
            f"replications, seed {cfg.bootstrap.bootstrap_seed}",
            "stepm": "Romano-Wolf's stepwise test at 5% family-wise error, on the SPA's "
            "studentized leads, bootstrap and seed",
            "evidence": f"an edge needs at least {cfg.tests.min_trades} trades on at least "
            f"{cfg.tests.min_active_days} days with a non-zero return from the best trial",
        },
    }
    best_trial = next(t for t in scored if column_name(t.record) == best)
    importance = importance_summary(best, best_trial.folds)
    if importance is not None:
        summary["importance"] = importance
    returns_table = matrix.assign(
        **{BUY_AND_HOLD: buy_and_hold, BEST_BASELINE: baseline_returns[best_baseline]}
    )
    return ExperimentReport(
        summary=summary,
        returns=returns_table,
        verdict=verdict,
        best_equity=evaluations[best].result.equity,
        best_trades=evaluations[best].result.trades,
        benchmark_equity=base_run.benchmark,
        best_predictions=strategy_view(on_minutes(best_trial.frame, minutes), best_trial.config),
    )


def leaderboard_order(line: dict) -> tuple[bool, float]:
    """Trials that traded first, by per-day Sharpe ratio (highest first; undefined last),
    then those that never traded: a missing Sharpe never ranks above a real one."""
    sharpe = line["per_day_sharpe"]
    return (not line["trades"], -sharpe if np.isfinite(sharpe) else np.inf)


def strategy_view(frame: pd.DataFrame, config: VariantConfig) -> pd.DataFrame:
    """``frame`` with the probabilities the trial's strategy reads as p_down, p_neutral, p_up
    (the diagnostics' columns), beside label and fold."""
    read = EXPERIMENT_COLUMNS[strategy_columns(config)]
    shown = EXPERIMENT_COLUMNS["model"]
    values = {to: frame[source].to_numpy() for to, source in zip(shown, read, strict=True)}
    return frame[["timestamp", "label", "fold"]].assign(**values)


def trial_returns(report: ExperimentReport) -> Mapping[str, pd.Series]:
    """Each scored trial's daily returns (column name -> series), for the ledger."""
    benchmarks = {BUY_AND_HOLD, BEST_BASELINE}
    return {c: report.returns[c] for c in report.returns.columns if c not in benchmarks}
