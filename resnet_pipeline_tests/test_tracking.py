"""Variant-folds logged to a real local MLflow store (SQLite) and read back with MlflowClient;
broken tracking servers (real HTTP servers on 127.0.0.1 answering 503) cost seconds."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import socket
import threading
import time
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from resnet_pipeline.layout import Layout
from resnet_pipeline.reports.plots import training_curves
from resnet_pipeline.tracking import (
    DATABASE_FILE,
    NOTE_TAG,
    TRACKING_URI_VARIABLE,
    FoldScores,
    VariantFold,
    config_hash,
    flatten_config,
    log_variant_fold,
    log_variant_folds,
    tag_verdict,
    tracking_store,
)
from resnet_pipeline.tracking_server import HTTP_LIMITS, REQUEST_RETRIES, WORST_CASE_S
from resnet_pipeline_tests._tracking_servers import RETRY_AFTER_S, unavailable_server

HISTORY = [
    {"epoch": e, "train_loss": 1.2 - 0.1 * e, "train_acc": 0.4, "val_loss": 1.1 - 0.05 * e,
     "val_acc": 0.45, "lr": 1e-3, "improved": True}
    for e in (1, 2, 3)
]  # fmt: skip
SCORES = FoldScores(
    accuracy=0.5123456789012345,  # a store keeps full precision
    macro_f1=0.42,
    auc_roc_ovr=None,
    log_loss=1.01,
    ece_before=0.12,
    ece_after=0.03,
    epochs=3,
    wall_s=12.5,
    sharpe_after_costs=0.8,
)
CONFIG = {"labels": {"horizon": 12, "threshold": 0.002}, "model": {"blocks": [2, 2], "width": 32}}
BASELINES = {
    "majority": {"accuracy": 0.40, "log_loss": 1.09, "auc_roc_ovr": None},
    "logistic": {"accuracy": 0.48, "log_loss": 1.05, "auc_roc_ovr": 0.55},
}
STARTED = datetime(2024, 4, 2, 10, 0, 0, tzinfo=UTC)
ENDED = datetime(2024, 4, 2, 10, 0, 44, 500000, tzinfo=UTC)  # a 44.5 s fold
DESCRIPTION = "Does a longer label horizon help? Three horizons on one symbol."


@pytest.fixture(scope="module")
def migrated_database(tmp_path_factory) -> Path:
    """One SQLite store with MLflow's tables created (the slow part, seconds), copied per test."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / DATABASE_FILE
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def layout(tmp_path: Path, migrated_database: Path) -> Layout:
    layout = Layout.at(tmp_path / "data")
    store = Path(layout.mlflow_store().path)
    store.mkdir(parents=True)
    shutil.copy(migrated_database, store / DATABASE_FILE)
    return layout


def _fold(tmp_path: Path, variant: str = "wide", config: dict = CONFIG) -> VariantFold:
    model = tmp_path / "model.pt"
    model.write_bytes(b"weights of the fold model")
    return VariantFold(
        experiment="horizons",
        variant=variant,
        symbol="BTCUSDT",
        month=date(2024, 3, 1),
        config=config,
        scores=SCORES,
        history=HISTORY,
        files=[model],
        plots={"training_curves": training_curves(HISTORY)},
        baselines=BASELINES,
        started=STARTED,
        ended=ENDED,
        description=DESCRIPTION,
    )


def _client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def test_a_logged_fold_reads_back_with_the_mlflow_client(tmp_path, layout):
    import mlflow

    global_uri = mlflow.get_tracking_uri()
    store = tracking_store(layout, None)
    assert store.uri == f"sqlite:///{Path(layout.mlflow_store().path).resolve() / DATABASE_FILE}"

    outcome = log_variant_fold(_fold(tmp_path), store)

    assert outcome.status == "logged", outcome.note
    client = _client(store.uri)
    run = client.get_run(outcome.run_id)
    assert run.info.run_name == "wide 2024-03" and run.info.status == "FINISHED"
    # the fold's own span, not the milliseconds of logging it
    assert run.info.start_time == 1712052000000 and run.info.end_time == 1712052044500
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == "horizons/BTCUSDT"
    assert experiment.tags[NOTE_TAG] == DESCRIPTION
    assert experiment.artifact_location.startswith((tmp_path / "data" / "mlruns").as_uri())
    assert run.data.params == {
        "experiment": "horizons",
        "variant": "wide",
        "symbol": "BTCUSDT",
        "fold_month": "2024-03",
        "labels.horizon": "12",
        "labels.threshold": "0.002",
        "model.blocks": "[2, 2]",
        "model.width": "32",
    }
    assert run.data.metrics == {
        "accuracy": 0.5123456789012345,
        "macro_f1": 0.42,
        "log_loss": 1.01,
        "ece_before": 0.12,
        "ece_after": 0.03,
        "epochs": 3.0,
        "wall_s": 12.5,
        "sharpe_after_costs": 0.8,
        "train_loss": pytest.approx(0.9),
        "train_acc": 0.4,
        "val_loss": pytest.approx(0.95),
        "val_acc": 0.45,
        "lr": 1e-3,
        "baseline_majority_accuracy": 0.40,
        "baseline_majority_log_loss": 1.09,
        "baseline_logistic_accuracy": 0.48,
        "baseline_logistic_log_loss": 1.05,
        "baseline_logistic_auc_roc_ovr": 0.55,
    }
    curve = client.get_metric_history(outcome.run_id, "val_loss")
    assert [(m.step, m.value) for m in curve] == [
        (1, pytest.approx(1.05)),
        (2, pytest.approx(1.0)),
        (3, pytest.approx(0.95)),
    ]
    tags = run.data.tags
    assert {k: tags[k] for k in ("experiment", "variant", "symbol", "fold_month")} == {
        "experiment": "horizons",
        "variant": "wide",
        "symbol": "BTCUSDT",
        "fold_month": "2024-03",
    }
    assert tags["config_hash"] == config_hash(CONFIG)
    assert tags[NOTE_TAG] == (
        "wide on BTCUSDT, fold 2024-03: accuracy 0.512 (baselines: majority 0.4, logistic "
        "0.48); Sharpe after costs 0.8; 3 epochs in 12.5 s"
    )
    found = client.search_runs(
        [run.info.experiment_id],
        "tags.experiment = 'horizons' and tags.variant = 'wide' and tags.symbol = 'BTCUSDT' "
        "and tags.fold_month = '2024-03'",
    )
    assert [r.info.run_id for r in found] == [outcome.run_id]
    listed = {a.path for a in client.list_artifacts(outcome.run_id)}
    assert listed == {"model.pt", "config.json", "plots"}
    assert [a.path for a in client.list_artifacts(outcome.run_id, "plots")] == [
        "plots/training_curves.png"
    ]
    model = client.download_artifacts(outcome.run_id, "model.pt", str(tmp_path))
    assert Path(model).read_bytes() == b"weights of the fold model"
    png = client.download_artifacts(outcome.run_id, "plots/training_curves.png", str(tmp_path))
    assert Path(png).read_bytes().startswith(b"\x89PNG")

    assert mlflow.get_tracking_uri() == global_uri and mlflow.active_run() is None
    assert outcome.metadata()["mlflow_run_id"] == outcome.run_id


def test_variants_share_an_experiment_and_a_rerun_replaces_its_run(tmp_path, layout):
    store = tracking_store(layout, None)
    wide = log_variant_fold(_fold(tmp_path, "wide"), store)
    narrow = log_variant_fold(
        _fold(tmp_path, "narrow", {**CONFIG, "model": {"blocks": [1], "width": 8}}), store
    )
    assert wide.experiment_id == narrow.experiment_id
    again = log_variant_fold(_fold(tmp_path, "wide"), store)
    assert again.replaced == (wide.run_id,)

    client = _client(store.uri)
    active = client.search_runs([wide.experiment_id])
    assert sorted(r.data.tags["variant"] for r in active) == ["narrow", "wide"]
    assert {r.info.run_id for r in active} == {narrow.run_id, again.run_id}
    assert client.get_run(wide.run_id).info.lifecycle_stage == "deleted"


def test_mlflow_tracking_uri_is_honoured_even_on_object_storage(
    tmp_path, migrated_database, monkeypatch
):
    """The variable wins over the data root; with an object-storage root it is the way on."""
    monkeypatch.chdir(tmp_path)  # where MLflow puts a database store's default artifacts
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(migrated_database, elsewhere / DATABASE_FILE)
    uri = f"sqlite:///{elsewhere / DATABASE_FILE}"
    store = tracking_store(Layout.at("s3://bucket/prefix"), uri)

    outcome = log_variant_fold(_fold(tmp_path), store)

    assert outcome.status == "logged", outcome.note
    assert _client(uri).get_run(outcome.run_id).data.tags["variant"] == "wide"


def test_object_storage_without_a_uri_turns_tracking_off_and_says_so(tmp_path, caplog):
    store = tracking_store(Layout.at("s3://bucket/prefix"), None)
    assert store.uri is None
    with caplog.at_level(logging.WARNING, logger="resnet_pipeline.tracking"):
        outcome = log_variant_fold(_fold(tmp_path), store)
    assert outcome.status == "off" and outcome.run_id is None
    assert TRACKING_URI_VARIABLE in outcome.note and "object storage" in outcome.note
    assert outcome.note in caplog.text


def test_an_unusable_store_never_fails_the_fold(tmp_path, caplog):
    with socket.socket() as probe:  # a port on this machine that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    layout = Layout.at(tmp_path / "data")
    for uri in (f"http://user:secret@127.0.0.1:{port}", "nosuch://store"):
        store = tracking_store(layout, uri)
        with caplog.at_level(logging.WARNING, logger="resnet_pipeline.tracking"):
            outcome = log_variant_fold(_fold(tmp_path), store)
        assert outcome.status == "failed" and outcome.run_id is None
        assert outcome.note in caplog.text
        assert "secret" not in outcome.note
        if uri.startswith("http"):  # the probe answers at once, not MLflow's minutes of retries
            assert "does not answer" in outcome.note
    assert not os.path.exists(tmp_path / "data")


class _NotMlflow(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_error(404)

    def log_message(self, *args) -> None:
        pass


def test_a_server_that_answers_is_left_to_mlflow(tmp_path):
    """The reachability probe lets a 4xx answer through: here a server that is not MLflow
    answers 404, and MLflow's own error (not the probe's) is the reason given."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotMlflow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        uri = f"http://127.0.0.1:{server.server_address[1]}"
        store = tracking_store(Layout.at(tmp_path / "data"), uri)
        outcome = log_variant_fold(_fold(tmp_path), store)
    finally:
        server.shutdown()
        server.server_close()
    assert outcome.status == "failed"
    assert "does not answer" not in outcome.note
    assert "MlflowException" in outcome.note and "404" in outcome.note


def test_a_server_answering_503_is_asked_once_for_a_whole_run(tmp_path):
    """Behind a proxy answering 503 (Retry-After: 2 minutes), MLflow's own client would retry
    each call for minutes; the probe counts a 5xx as unreachable, so three folds cost the
    server one request and the run seconds."""
    folds = [_fold(tmp_path, variant) for variant in ("wide", "narrow", "deep")]
    with unavailable_server() as (uri, requests):
        started = time.monotonic()
        outcomes = log_variant_folds(folds, tracking_store(Layout.at(tmp_path / "data"), uri))
        took = time.monotonic() - started
    assert [o.status for o in outcomes] == ["failed"] * 3
    assert "does not answer" in outcomes[0].note and "503" in outcomes[0].note
    assert requests.seen == ["GET /health"]
    assert took < WORST_CASE_S < RETRY_AFTER_S


def test_a_server_whose_api_answers_503_costs_one_retry_not_minutes(tmp_path):
    """A healthy /health and a failing API: the first call is tried twice (HTTP_LIMITS), and
    its failure ends the run's tracking: the other folds are not tried."""
    folds = [_fold(tmp_path, variant) for variant in ("wide", "narrow", "deep")]
    with unavailable_server(healthy=True) as (uri, requests):
        started = time.monotonic()
        outcomes = log_variant_folds(folds, tracking_store(Layout.at(tmp_path / "data"), uri))
        took = time.monotonic() - started
    assert [o.status for o in outcomes] == ["failed"] * 3
    assert "MlflowException" in outcomes[0].note and "503" in outcomes[0].note
    api = [r for r in requests.seen if "/health" not in r]
    assert requests.seen[0] == "GET /health" and len(api) == 1 + REQUEST_RETRIES, requests.seen
    assert len({r for r in api}) == 1, "one call, retried: no later call was tried"
    assert took < WORST_CASE_S < RETRY_AFTER_S


def test_the_http_limits_hold_for_our_calls_only(tmp_path, monkeypatch):
    """What the process had set before is what it has after a logging (set, or unset)."""
    name, kept = sorted(HTTP_LIMITS)[0], sorted(HTTP_LIMITS)[1]
    monkeypatch.setenv(name, "77")
    monkeypatch.delenv(kept, raising=False)
    with unavailable_server(healthy=True) as (uri, _):
        log_variant_fold(_fold(tmp_path), tracking_store(Layout.at(tmp_path / "data"), uri))
    assert os.environ[name] == "77" and kept not in os.environ


def test_the_experiment_description_follows_the_file(tmp_path, layout):
    store = tracking_store(layout, None)
    first = log_variant_fold(_fold(tmp_path), store)
    edited = dataclasses.replace(_fold(tmp_path, "narrow"), description="Horizons, edited.")
    again = log_variant_fold(edited, store)
    assert first.experiment_id == again.experiment_id
    assert _client(store.uri).get_experiment(first.experiment_id).tags[NOTE_TAG] == (
        "Horizons, edited."
    )


def test_the_report_s_verdict_tags_every_run_of_the_experiment(tmp_path, layout):
    store = tracking_store(layout, None)
    wide = log_variant_fold(_fold(tmp_path, "wide"), store)
    narrow_config = {**CONFIG, "model": {"blocks": [1], "width": 8}}
    narrow = log_variant_fold(_fold(tmp_path, "narrow", narrow_config), store)
    outcome = tag_verdict(store, "horizons", "BTCUSDT", False, config_hash(narrow_config))
    assert outcome.status == "logged", outcome.note
    client = _client(store.uri)
    assert client.get_experiment(wide.experiment_id).tags["verdict"] == "no edge"
    best = client.search_runs([wide.experiment_id], "tags.best_trial = 'yes'")
    assert [r.info.run_id for r in best] == [narrow.run_id]
    judged = client.search_runs([wide.experiment_id], "tags.verdict = 'no edge'")
    assert {r.info.run_id for r in judged} == {wide.run_id, narrow.run_id}
    assert tag_verdict(store, "other", "BTCUSDT", True, None).status == "off"


def test_a_config_key_that_shadows_the_identity_is_refused(tmp_path, layout):
    with pytest.raises(ValueError, match=r"\['symbol'\].*rename"):
        log_variant_fold(
            _fold(tmp_path, config={"symbol": "ETHUSDT"}), tracking_store(layout, None)
        )


def test_flattened_config_and_its_hash():
    assert flatten_config({"a": {"b": {"c": 1}}, "d": (1, 2), "e": None}) == {
        "a.b.c": "1",
        "d": "[1, 2]",
        "e": "None",
    }
    reordered = {"model": CONFIG["model"], "labels": CONFIG["labels"]}
    assert config_hash(reordered) == config_hash(CONFIG)
    changed = {**CONFIG, "labels": {"horizon": 15, "threshold": 0.002}}
    assert config_hash(changed) != config_hash(CONFIG)
