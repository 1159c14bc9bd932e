"""``experiment_fold``'s MLflow runs of its variant-folds: configuration, scores beside the
baselines', curves, reliability plot and model (the fold itself is the one fold step,
``experiments.fold_step``).

Two halves, so that tracking never holds the machine: ``fold_to_track`` takes what a run needs
while the fold is trained (no drawing, no I/O), and ``track_folds`` draws and logs once the
training lock is released."""

from dataclasses import dataclass, replace
from datetime import datetime

from resnet_pipeline.defs.experiments.trials import ResolvedTrial
from resnet_pipeline.experiments.variant_fold import BASELINES, SCORED, FoldRun
from resnet_pipeline.layout import Layout
from resnet_pipeline.ml.evaluation.permutation_importance import importance_records
from resnet_pipeline.reports.experiment_page import calibration_plot
from resnet_pipeline.reports.plots import training_curves
from resnet_pipeline.resources.mlflow_tracking import MlflowTracking
from resnet_pipeline.tracking import FoldScores, TrackingOutcome, VariantFold, log_variant_folds


def fold_scores(run: FoldRun) -> FoldScores:
    s = run.scores
    return FoldScores(
        accuracy=s.get("model_accuracy"),
        macro_f1=s.get("model_macro_f1"),
        auc_roc_ovr=s.get("model_auc_roc_ovr"),
        log_loss=s.get("model_log_loss"),
        ece_before=s.get("ece_before"),
        ece_after=s.get("ece_after"),
        epochs=run.trained.epochs_run,
        wall_s=run.trained.wall_s,
        sharpe_after_costs=s.get("sharpe_after_costs"),
    )


def baseline_scores(run: FoldRun) -> dict[str, dict[str, float | None]]:
    """Each baseline's scores of the month, named as the model's (``month_scores``)."""
    return {name: {k: run.scores.get(f"{name}_{k}") for k in SCORED} for name in BASELINES}


def fold_importance_records(run: FoldRun) -> list[dict]:
    """The fold's importances as plain records (none when the variant does not measure them)."""
    return [] if run.importance is None else importance_records(run.importance)


@dataclass(frozen=True)
class FoldToTrack:
    """A variant-fold's run without its plots, and the reliability bins to draw one from."""

    fold: VariantFold
    reliability: tuple[dict, dict]


def fold_to_track(
    layout: Layout, trial: ResolvedTrial, run: FoldRun, started: datetime, ended: datetime
) -> FoldToTrack:
    """What the fold's MLflow run needs, taken from ``run`` (``started``/``ended``: the fold's
    span, from its training to its written files)."""
    files = trial.files(layout)
    fold = VariantFold(
        experiment=trial.experiment.name,
        variant=trial.key.variant,
        symbol=trial.key.symbol,
        month=run.fold.month,
        config=trial.config.sections(),
        scores=fold_scores(run),
        history=run.trained.history,
        files=[files.trial(trial.config.config_hash).fold(run.fold.month).model],
        baselines=baseline_scores(run),
        started=started,
        ended=ended,
        description=trial.experiment.description,
        importance=fold_importance_records(run),
    )
    return FoldToTrack(fold, run.reliability())


def _with_plots(pending: FoldToTrack) -> VariantFold:
    history = pending.fold.history
    plots = {"training_curves": training_curves(history)} if history else {}
    plots["reliability"] = calibration_plot(*pending.reliability)
    return replace(pending.fold, plots=plots)


def track_folds(
    layout: Layout, pending: list[FoldToTrack], mlflow: MlflowTracking, log
) -> list[TrackingOutcome]:
    """The variant-folds in MLflow, one outcome each; a store that failed is said once."""
    store = mlflow.store(layout)
    if store.uri is None:  # plots drawn only for a store that keeps them
        folds = [p.fold for p in pending]
    else:
        folds = [_with_plots(p) for p in pending]
    outcomes = log_variant_folds(folds, store)
    for note in dict.fromkeys(o.note for o in outcomes if o.status != "logged"):
        log.warning(note)
    return outcomes
