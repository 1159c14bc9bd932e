"""``experiment_fold``'s MLflow run of a variant-fold: its configuration, scores, curves,
reliability plot and model (the fold itself is the one fold step, ``experiments.fold_step``)."""

from resnet_pipeline.defs.experiments.trials import ResolvedTrial
from resnet_pipeline.experiments.variant_fold import FoldRun
from resnet_pipeline.layout import Layout
from resnet_pipeline.reports.experiment_page import calibration_plot
from resnet_pipeline.reports.plots import training_curves
from resnet_pipeline.resources.mlflow_tracking import MlflowTracking
from resnet_pipeline.tracking import FoldScores, TrackingOutcome, VariantFold, log_variant_fold


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


def track_fold(
    layout: Layout, trial: ResolvedTrial, run: FoldRun, mlflow: MlflowTracking, log
) -> TrackingOutcome:
    """The variant-fold in MLflow: its configuration, scores, curves, plots and model."""
    store = mlflow.store(layout)
    history = run.trained.history
    plots = {}
    if store.uri is not None:  # drawn only for a store that keeps them
        plots = {"training_curves": training_curves(history)} if history else {}
        plots["reliability"] = calibration_plot(*run.reliability())
    files = layout.experiment(trial.experiment.name, trial.key.symbol)
    fold = VariantFold(
        experiment=trial.experiment.name,
        variant=trial.key.variant,
        symbol=trial.key.symbol,
        month=run.fold.month,
        config=trial.config.sections(),
        scores=fold_scores(run),
        history=history,
        files=[files.trial(trial.config.config_hash).fold(run.fold.month).model],
        plots=plots,
    )
    outcome = log_variant_fold(fold, store)
    if outcome.status != "logged":
        log.warning(outcome.note)
    return outcome
