"""Two workers (two processes) run one search at once against the real PostgreSQL server the
scale-out tests start: the Dagster instance is on it and so is the study (Optuna's distributed
mode). Every trial is run once by one worker, none is lost, and the search's own ledger (its
months are split off the verdict's) holds exactly the study's trials."""

import importlib.util
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import optuna
import pytest

from resnet_pipeline.experiments.ledger import COMPLETE, ledger
from resnet_pipeline.experiments.search_study import POSTGRES_SCHEMA, study_name
from resnet_pipeline.layout import Layout
from resnet_pipeline_tests._experiment_cli import experiment_env
from resnet_pipeline_tests._servers import DEPLOY_YAML, Postgres, missing_binaries
from resnet_pipeline_tests._walk_forward_helpers import store_months

_MISSING_MODULES = [m for m in ("dagster_postgres", "psycopg2") if not importlib.util.find_spec(m)]
_MISSING_BINARIES = [b for b in missing_binaries() if "redis" not in b]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.scale,
    pytest.mark.skipif(
        bool(_MISSING_MODULES),
        reason=f"scale-out extra missing ({', '.join(_MISSING_MODULES)}): pip install -e "
        "'.[scale]'",
    ),
    pytest.mark.skipif(
        bool(_MISSING_BINARIES),
        reason=f"PostgreSQL binaries missing ({', '.join(_MISSING_BINARIES)}): apt-get install "
        "postgresql",
    ),
]

SYMBOL, NAME, TRIALS_EACH = "BTCUSDT", "pg-search", 2
MONTHS = [date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)]
FILE = """
months: [2024-02, 2024-03]
symbols: [BTCUSDT]
base:
  folds: {window: 32, min_train_samples: 16}
  training: {epochs: 1, batch_size: 16, max_train_samples: 32, max_val_samples: 64,
             augment: false, device: cpu}
  importance: {measure_importance: false}
search:
  space:
    training.lr: {log: [1.0e-4, 1.0e-2]}
  n_trials: 2
  pruner: none
  search_months: [2024-02]
"""


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    root = tmp_path_factory.mktemp("pg-search")
    postgres = Postgres().start()
    try:
        store_months(root / "data", SYMBOL, MONTHS, hours=6)
        (root / "experiments").mkdir()
        (root / "experiments" / f"{NAME}.yaml").write_text(FILE)
        (root / "home").mkdir()
        shutil.copy(DEPLOY_YAML, root / "home" / "dagster.yaml")
        env = experiment_env(root, SYMBOL) | postgres.env()
        bin_dir = Path(sys.executable).parent
        subprocess.run(  # what an operator runs once per database (deploy/postgres-celery)
            [str(bin_dir / "dagster"), "instance", "concurrency", "set", "trainer", "1"],
            env=env, cwd=root, check=True, capture_output=True, timeout=180,
        )  # fmt: skip
        command = [sys.executable, "-m", "resnet_pipeline.cli.experiments", "search", NAME,
                   "--trials", str(TRIALS_EACH)]  # fmt: skip
        workers = [
            subprocess.Popen(
                command,
                env=env,
                cwd=root,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            for _ in range(2)
        ]
        outputs = [w.communicate(timeout=900) for w in workers]
        for worker, (_, err) in zip(workers, outputs, strict=True):
            assert worker.returncode == 0, err[-3000:]
        with pytest.MonkeyPatch.context() as patch:  # the instance yaml reads them
            for key, value in postgres.env().items():
                patch.setenv(key, value)
            instance = dg.DagsterInstance.from_config(str(root / "home"))
            url = instance.run_storage.postgres_url
            yield root, postgres, url, [out for out, _ in outputs], instance
    finally:
        postgres.stop()


def test_the_study_lives_in_the_instance_s_postgres_and_holds_every_trial_once(two_workers):
    _, postgres, url, outputs, _ = two_workers
    assert all("study in the instance's PostgreSQL" in out for out in outputs)
    tables = postgres.query(
        "select table_name from information_schema.tables where table_schema = %s",
        POSTGRES_SCHEMA,
    )
    assert {"studies", "trials"} <= {t for (t,) in tables}
    study = optuna.load_study(
        study_name=study_name(NAME, SYMBOL),
        storage=f"{url}?options=-csearch_path%3D{POSTGRES_SCHEMA}",
    )
    assert [t.number for t in study.trials] == list(range(2 * TRIALS_EACH))
    assert {t.state for t in study.trials} == {optuna.trial.TrialState.COMPLETE}
    ran = [line.split()[0] for out in outputs for line in out.splitlines() if line[:7] == "search-"]
    assert sorted(ran) == [f"search-{n:03d}" for n in range(2 * TRIALS_EACH)]  # each once


def test_the_search_ledger_matches_the_study_and_the_verdict_s_is_untouched(two_workers):
    root, _, _, _, instance = two_workers
    files = Layout.at(root / "data").experiment(NAME, SYMBOL)
    records = ledger(files.search)
    assert sorted(r.variant for r in records) == [f"search-{n:03d}" for n in range(4)]
    assert {r.status for r in records} == {COMPLETE}
    assert len({r.config_hash for r in records}) == 4
    for record in records:  # one fold each, on the search month only
        trial = files.search.trial(record.config_hash)
        assert trial.fold(date(2024, 2, 1)).info.exists()
        assert not trial.fold(date(2024, 3, 1)).info.exists()
    assert ledger(files) == []  # the verdict months' N counts none of them
    folds = instance.fetch_materializations(dg.AssetKey("experiment_fold"), limit=20).records
    keys = [r.partition_key for r in folds]
    assert sorted(keys) == [f"2024-02-01|{NAME}:{SYMBOL}:search-{n:03d}" for n in range(4)]
