"""The main job's backtest and an experiment's report on the same symbol link each other, with
the one line that says where their settings differ; a missing or unreadable other report is
not linked."""

from resnet_pipeline.artifacts import write_json_atomic, write_text_atomic
from resnet_pipeline.layout import Layout
from resnet_pipeline.ml.evaluation.run_settings import RunSettings, TrainingBudget
from resnet_pipeline.reports.other_views import experiment_views, main_job_view
from resnet_pipeline.trading.strategy import StrategyConfig

JOB = RunSettings(
    StrategyConfig(threshold=0.55), TrainingBudget((2,), (52_000,), (4000,), 2), "2024-07"
)
BEST = RunSettings(
    StrategyConfig(threshold=0.7, sizing="fixed", fixed_fraction=1.0), JOB.training, "2024-07"
)


def _store_job(layout: Layout, symbol: str, settings: RunSettings) -> None:
    files = layout.reports(symbol)
    write_json_atomic(files.backtest_metrics, {"run_settings": settings.to_dict()})
    write_text_atomic(files.backtest_html, "<html></html>")


def _store_experiment(layout: Layout, name: str, symbol: str, settings: RunSettings) -> None:
    files = layout.experiment(name, symbol).report
    line = {"trial": "window-48@abc", "run_settings": settings.to_dict()}
    write_json_atomic(files.summary, {"best_trial": "window-48@abc", "leaderboard": [line]})
    write_text_atomic(files.html, "<html></html>")


def test_each_report_links_the_other_with_the_difference(tmp_path):
    layout = Layout.at(tmp_path)
    _store_job(layout, "PLANTUSDT", JOB)
    _store_experiment(layout, "demo", "PLANTUSDT", BEST)
    here = layout.experiment("demo", "PLANTUSDT").report.html
    job = main_job_view(layout, "PLANTUSDT", BEST, here)
    assert job is not None
    assert job.path == "../../../../reports/PLANTUSDT/report.html"
    assert job.reason == (
        "the main job uses threshold 0.55, Kelly size up to 25%; "
        "this experiment's best trial threshold 0.7, full size"
    )
    (view,) = experiment_views(layout, "PLANTUSDT", JOB, layout.reports("PLANTUSDT").backtest_html)
    assert view.path == "../../experiments/demo/PLANTUSDT/report/report.html"
    assert view.label == "experiment demo"
    assert view.reason.startswith("experiment demo's best trial (window-48@abc) uses threshold 0.7")
    assert experiment_views(layout, "NOISEUSDT", JOB, "x/report.html") == []
    assert main_job_view(layout, "NOISEUSDT", BEST, "x/report.html") is None


def test_an_unreadable_other_report_is_not_linked(tmp_path):
    layout = Layout.at(tmp_path)
    _store_experiment(layout, "demo", "PLANTUSDT", BEST)
    broken = layout.experiment("broken", "PLANTUSDT").report
    write_text_atomic(broken.summary, '{"best_trial": "a", "leader')  # cut short
    write_text_atomic(broken.html, "<html></html>")
    write_text_atomic(layout.reports("PLANTUSDT").backtest_metrics, "{}")  # an older version's
    write_text_atomic(layout.reports("PLANTUSDT").backtest_html, "<html></html>")
    views = experiment_views(layout, "PLANTUSDT", JOB, "reports/PLANTUSDT/report.html")
    assert [v.label for v in views] == ["experiment demo"]
    assert main_job_view(layout, "PLANTUSDT", BEST, "here/report.html") is None
