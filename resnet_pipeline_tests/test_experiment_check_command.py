"""``experiments check``: a light process (no Dagster, no torch) that refuses what ``run`` would
refuse, ``--n-boot`` included, before anything trains; a file it accepts registers and runs
its first fold. And a bad setting under ``dagster definitions validate`` is its paragraph."""

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from resnet_pipeline.cli.experiments import checked_experiment, main
from resnet_pipeline.commands import month_key
from resnet_pipeline.definitions import build_definitions
from resnet_pipeline.defs.experiments.experiment_runner import register_experiment
from resnet_pipeline.experiments.experiment_file import ExperimentError
from resnet_pipeline.experiments.trial_keys import trial_key
from resnet_pipeline.settings import load_settings
from resnet_pipeline_tests._walk_forward_helpers import store_months

pytestmark = pytest.mark.slow

GOOD = "months: 2024-02..2024-03\nvariants:\n  - name: v1\n"
TINY = """
months: [2024-02]
symbols: [BTCUSDT]
base:
  folds: {window: 32, min_train_samples: 16}
  training: {epochs: 1, batch_size: 16, max_train_samples: 32, max_val_samples: 64,
             augment: false, device: cpu}
variants:
  - name: first-fold
"""


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESNET_", "MLFLOW_"))}
    return env | {
        "RESNET_SOURCE": "synthetic",
        "RESNET_DATA_DIR": str(root / "data"),
        "RESNET_SYMBOLS": "BTCUSDT",
        "RESNET_FIRST_MONTH": "2024-01",
        "RESNET_EXPERIMENTS_DIR": str(root / "experiments"),
        "DAGSTER_HOME": str(root / "home"),
    }


def _write(root: Path, text: str, name: str = "probe") -> Path:
    (root / "experiments").mkdir(exist_ok=True)
    path = root / "experiments" / f"{name}.yaml"
    path.write_text(text)
    return path


def _check(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    probe = (
        "import sys\n"
        "from resnet_pipeline.cli.experiments import main\n"
        "code = main(sys.argv[1:])\n"
        "print('imported:', sorted(m for m in ('torch', 'dagster', 'scipy', 'mlflow') "
        "if m in sys.modules))\n"
        "sys.exit(code)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", probe, *args],
        env=_env(root),
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_imports_neither_dagster_nor_torch(tmp_path):
    path = _write(tmp_path, GOOD)
    run = _check(tmp_path, "check", str(path))
    assert run.returncode == 0, run.stderr
    assert "probe: months 2024-02, 2024-03" in run.stdout
    assert "imported: []" in run.stdout


def test_check_refuses_in_a_paragraph_without_dagster_or_torch(tmp_path):
    path = _write(tmp_path, "months: 2030-01..2030-02\nvariants:\n  - name: v1\n")
    run = _check(tmp_path, "check", str(path))
    assert run.returncode == 2
    assert run.stderr.startswith(f"error: {path}: months: 2030-02 is after the last month")
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert "imported: []" in run.stdout


@pytest.mark.parametrize("action", ["check", "register", "run"])
def test_a_bad_n_boot_is_refused_before_anything_runs(tmp_path, monkeypatch, capsys, action):
    for key, value in _env(tmp_path).items():
        monkeypatch.setenv(key, value)
    path = _write(tmp_path, GOOD)
    assert main([action, str(path), "--n-boot", "0"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: --n-boot 0: use a whole number in [100, 100,000]")
    assert not (tmp_path / "home").exists() and not (tmp_path / "data").exists()


def test_a_file_check_accepts_registers_and_runs_its_first_fold(tmp_path):
    env = _env(tmp_path)
    settings = load_settings(env)
    store_months(tmp_path / "data", "BTCUSDT", [date(2024, 1, 1), date(2024, 2, 1)], hours=6)
    experiment = checked_experiment(str(_write(tmp_path, TINY, "tiny")), settings, 100)
    defs = build_definitions(settings, env)
    with dg.instance_for_test() as instance:
        register_experiment(experiment, instance, defs)
        key = month_key(trial_key("tiny", "BTCUSDT", "first-fold"), experiment.months[0])
        result = defs.resolve_job_def("experiment_job").execute_in_process(
            partition_key=key, instance=instance, raise_on_error=False
        )
        failures = [e.step_failure_data.error.message for e in result.get_step_failure_events()]
        assert result.success, failures


def test_months_before_the_partitions_are_refused_by_the_command(tmp_path):
    settings = load_settings(_env(tmp_path))
    path = _write(tmp_path, "months: 2024-01\nvariants:\n  - name: v1\n")
    with pytest.raises(ExperimentError, match="2024-01 has no month partition before it"):
        checked_experiment(str(path), settings, 1000)


def test_definitions_validate_reports_a_bad_setting_as_its_paragraph(tmp_path):
    env = _env(tmp_path) | {"RESNET_FIRST_MONTH": "garbage"}
    env.pop("DAGSTER_HOME")  # validate then uses a temporary instance
    dagster = Path(sys.executable).with_name("dagster")
    run = subprocess.run(
        [str(dagster), "definitions", "validate", "-m", "resnet_pipeline.definitions"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 1
    paragraph = "SettingsError: RESNET_FIRST_MONTH='garbage' is not a month: use YYYY-MM"
    said = run.stdout + run.stderr  # Dagster logs the failure to stdout
    assert paragraph in said
    frames = [line for line in said.splitlines() if line.strip().startswith("File ")]
    assert len(frames) == 1 and "definitions.py" in frames[0], said
