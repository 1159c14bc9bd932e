"""`experiment_report` (experiment x symbol, ``<experiment>:<symbol>``): the leaderboard of every
trial in the ledger and the verdict that counts them all (SPEC 14;
``experiments.verdict_report``), as HTML and JSON, with each scored trial's daily returns written
to the ledger. A fold enters only when its predictions and fold.json were made by its current
model (``fold_step.current_fold``, as in the walk-forward's report)."""

from dataclasses import replace

import dagster as dg
import pandas as pd

from resnet_pipeline.artifacts import exists, read_json, write_json_atomic, write_text_atomic
from resnet_pipeline.commands import experiment_command, materialize, materialize_trial_months
from resnet_pipeline.defs.dagster_config import dagster_config, part_of
from resnet_pipeline.defs.experiments.trials import load_experiment_or_fail
from resnet_pipeline.defs.key_figure import equity_markdown
from resnet_pipeline.defs.metadata import EXPERIMENTS, OWNERS, bullets, link, plain
from resnet_pipeline.defs.report_checks import key_figure, report_metadata
from resnet_pipeline.experiments.experiment_file import Experiment
from resnet_pipeline.experiments.fold_files import StaleFold, current_fold
from resnet_pipeline.experiments.ledger import (
    FAILED,
    PRUNED,
    predicted_months,
    read_ledger,
    repair_command,
)
from resnet_pipeline.experiments.trial_keys import report_key, split_report_key, trial_key
from resnet_pipeline.experiments.variant_config import resolve_config
from resnet_pipeline.experiments.verdict_report import (
    ReportSettings,
    TrialInput,
    TrialTests,
    build_experiment_report,
    column_name,
    trial_returns,
)
from resnet_pipeline.layout import ExperimentFiles
from resnet_pipeline.ml.evaluation.bootstrap_config import BootstrapConfig
from resnet_pipeline.ml.evaluation.run_settings import RunSettings
from resnet_pipeline.partitions import EXPERIMENT_REPORTS
from resnet_pipeline.reports.experiment_page import drawn_trial, experiment_page
from resnet_pipeline.reports.other_views import main_job_view
from resnet_pipeline.resources.experiment_directory import ExperimentDirectory
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.resources.mlflow_tracking import MlflowTracking
from resnet_pipeline.resources.venue import TradingVenue
from resnet_pipeline.storage import candles_around, write_parquet_atomic
from resnet_pipeline.tracking import tag_verdict
from resnet_pipeline.trading.stitched import stitch
from resnet_pipeline.trading.trade_breakdown import quote_currency
from resnet_pipeline.verdicts import Headline

ExperimentReportConfig = dagster_config(
    "ExperimentReportConfig",
    __name__,
    "The intervals' bootstrap and the verdict's tests (PBO blocks, SPA replications).",
    BootstrapConfig,
    TrialTests,
)


def _trial_input(files: ExperimentFiles, record, experiment: Experiment, market: str):
    trial = files.trial(record.config_hash)
    done = predicted_months(trial, experiment.months)
    frames, folds = {}, []
    for month in done if len(done) == len(experiment.months) else []:
        try:
            frames[f"{month:%Y-%m}"], fold = current_fold(trial.fold(month), month)
            folds.append(fold)
        except StaleFold as error:
            key = trial_key(record.experiment, record.symbol, record.variant)
            raise dg.Failure(
                f"experiment_fold {month:%Y-%m} of trial {record.variant} "
                f"({record.config_hash[:12]}, {record.symbol}) is out of date: {error}. Train "
                f"that fold again: {materialize_trial_months(key, month, month)}"
            ) from error
    config = resolve_config(record.config, market)
    return TrialInput(record, config, stitch(frames) if frames else None, done, folds)


def _incomplete_note(trials: list[TrialInput], experiment: Experiment) -> list[str]:
    first, last = experiment.months[0], experiment.months[-1]
    return [
        f"{t.record.variant}@{t.record.config_hash[:8]}: {len(t.months_done)} of "
        f"{len(experiment.months)} months; "
        + (
            f"{t.record.status} by the search ({t.record.note}): counted in N, not scored"
            if t.record.status in (PRUNED, FAILED)
            else "complete it with "
            + materialize_trial_months(
                trial_key(t.record.experiment, t.record.symbol, t.record.variant), first, last
            )
        )
        for t in trials
        if t.frame is None
    ]


@dg.asset(
    partitions_def=EXPERIMENT_REPORTS,
    group_name=EXPERIMENTS,
    kinds={"html"},
    owners=OWNERS,
    code_version="1",
    description="The experiment's leaderboard (pooled accuracy, macro F1, AUC, log loss and "
    "Sharpe after costs with block-bootstrap intervals, beside the baselines; folds won; "
    "calibration) and the verdict over every trial ever evaluated: deflated Sharpe ratio, PBO, "
    "SPA against buy-and-hold and the best baseline.",
    deps=[dg.AssetDep("experiment_fold", partition_mapping=dg.AllPartitionMapping())],
)
def experiment_report(
    context: dg.AssetExecutionContext,
    config: ExperimentReportConfig,
    store: DataStore,
    experiments: ExperimentDirectory,
    venue: TradingVenue,
    mlflow: MlflowTracking,
) -> dg.MaterializeResult:
    try:
        name, symbol = split_report_key(context.partition_key)
        settings = ReportSettings(part_of(BootstrapConfig, config), part_of(TrialTests, config))
    except ValueError as error:
        raise dg.Failure(f"experiment_report: {error}") from error
    experiment = load_experiment_or_fail(experiments, name, venue.market)
    files = store.layout.experiment(name, symbol)
    records, unreadable = read_ledger(files)
    first, last = experiment.months[0], experiment.months[-1]
    rerun = experiment_command("run", experiment.path)
    missing = [b.paragraph(repair_command(b, first, last, rerun)) for b in unreadable]
    for paragraph in missing:
        context.log.warning(paragraph)
    if not records:
        start = (
            materialize_trial_months(
                trial_key(name, symbol, experiment.variants[0].name), first, last
            )
            if experiment.variants
            else experiment_command("search", experiment.path)
        )
        raise dg.Failure(
            " ".join(missing)
            or f"no trial of {name} for {symbol} has been evaluated yet: register the file "
            f"({experiment_command('register', experiment.path)}) and run its folds, e.g. "
            + start
        )
    trials = [_trial_input(files, r, experiment, venue.market) for r in records]
    scored = [t.frame for t in trials if t.frame is not None]
    span = (
        (min(f["timestamp"].min() for f in scored), max(f["timestamp"].max() for f in scored))
        if scored
        else (pd.Timestamp(experiment.months[0], tz="UTC"),) * 2
    )
    candles = candles_around(store.layout, symbol, *span)
    try:
        report = build_experiment_report(
            experiment, symbol, trials, candles, settings, unreadable=len(unreadable)
        )
    except ValueError as error:
        notes = "; ".join(_incomplete_note(trials, experiment) + missing)
        raise dg.Failure(f"{name}/{symbol}: {error}. {notes}") from error
    summary = report.summary | {"incomplete": _incomplete_note(trials, experiment) + missing}
    out = files.report
    write_json_atomic(out.summary, plain(summary))
    write_parquet_atomic(report.returns.rename_axis("day").reset_index(), out.daily_returns)
    by_name = {column_name(r): r for r in records}
    for column, series in trial_returns(report).items():
        frame = series.rename("daily_return").rename_axis("day").reset_index()
        write_parquet_atomic(frame, files.trial(by_name[column].config_hash).daily_returns)
    drawn, _ = drawn_trial(summary)
    job = main_job_view(
        store.layout, symbol, RunSettings.from_dict(drawn["run_settings"]), out.html
    )
    page = experiment_page(
        summary,
        report.best_equity,
        report.benchmark_equity,
        report.best_predictions,
        report.best_trades,
        [job] if job else [],
    )
    write_text_atomic(out.html, page.html)
    best_hash = by_name[summary["best_trial"]].config_hash
    tag_verdict(mlflow.store(store.layout), name, symbol, summary["edge"], best_hash)
    context.log.info(f"{name}/{symbol}: {summary['verdict']}")
    best = next(line for line in summary["leaderboard"] if line["trial"] == summary["best_trial"])
    numbers = {
        "n_trials": summary["n_trials"],
        "scored_trials": summary["scored_trials"],
        "best_sharpe": best["intervals"]["sharpe_after_costs"]["estimate"],
        "best_accuracy": best["intervals"]["accuracy"]["estimate"],
        "days": summary["days"],
        "common_minutes": summary["common_minutes"],
    }
    table = [
        {
            "trial": line["trial"],
            "accuracy": line["intervals"]["accuracy"]["estimate"],
            "sharpe": line["intervals"]["sharpe_after_costs"]["estimate"],
            "trades": line["trades"],
        }
        for line in summary["leaderboard"]
    ]
    resolution = 1 / settings.tests.spa_reps
    looks_at = summary["importance"]["line"] if "importance" in summary else None
    return dg.MaterializeResult(
        metadata={
            "verdict": summary["verdict"],
            **report_metadata(
                _without(page.headline, looks_at),
                numbers,
                page.figures,
                {
                    "symbols": dg.MetadataValue.md(
                        bullets(_across_symbols(store, experiment), "symbol")
                    ),
                    **key_figure(equity_markdown(report.best_equity, report.benchmark_equity)),
                },
                resolution,
                currency=quote_currency(symbol),
                edge=summary["edge"],
                best_trial=summary["best_trial"],
                **({"looks_at": looks_at} if looks_at else {}),
                leaderboard=dg.MetadataValue.md(bullets(table, "trial", resolution)),
                report_path=link(out.html),
            ),
        }
    )


def _without(headline: Headline, note: str | None) -> Headline:
    """The headline without ``note``: a line the metadata shows as its own entry, so the
    headline stays under the UI's inline limit."""
    return replace(headline, notes=tuple(n for n in headline.notes if n != note))


def _across_symbols(store: DataStore, experiment: Experiment) -> list[dict[str, object]]:
    """Every symbol of the experiment in one table, from each symbol's stored summary (the UI
    shows one partition's materialization: without this, only the latest symbol's)."""
    rows = []
    for symbol in experiment.symbols:
        out = store.layout.experiment(experiment.name, symbol).report
        if not exists(out.summary):
            key = report_key(experiment.name, symbol)
            rows.append(
                {
                    "symbol": symbol,
                    "verdict": f"no report yet: {materialize('experiment_report', key)}",
                }
            )
            continue
        summary = read_json(out.summary)
        best = next(
            (line for line in summary["leaderboard"] if line["trial"] == summary["best_trial"]),
            {},
        )
        sharpe = best.get("intervals", {}).get("sharpe_after_costs", {}).get("estimate")
        rows.append(
            {
                "symbol": symbol,
                "verdict": summary["verdict"].split(":")[0],  # the rest is on its own page
                "best_trial": summary["best_trial"],
                "best_sharpe": sharpe,
                "trials": summary["n_trials"],
            }
        )
    return rows


experiment_report_job = dg.define_asset_job(
    "experiment_report_job",
    selection=[experiment_report],
    description="The leaderboard and verdict of one experiment and symbol.",
)

defs = dg.Definitions(assets=[experiment_report], jobs=[experiment_report_job])
