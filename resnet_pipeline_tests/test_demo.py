"""The demo's own choices: its months and a run config the training job accepts."""

from datetime import date

import dagster as dg
import pytest

from resnet_pipeline.definitions import defs
from resnet_pipeline.demo import demo_months, training_run_config


def test_demo_months_cross_the_year():
    assert demo_months(date(2023, 11, 1), 3) == [
        date(2023, 11, 1),
        date(2023, 12, 1),
        date(2024, 1, 1),
    ]
    with pytest.raises(SystemExit, match="at least 2"):
        demo_months(date(2024, 1, 1), 1)


def test_demo_run_config_is_valid_for_the_training_job():
    config = training_run_config([date(2024, 1, 1), date(2024, 3, 1)], epochs=2, train_samples=500)
    job = defs.resolve_job_def("training_job")
    dg.validate_run_config(job, config)  # raises on a field the assets do not have
    model = config["ops"]["trained_model"]["config"]
    assert model["epochs"] == 2 and model["max_train_samples"] == 500
    assert config["ops"]["dataset_splits"]["config"] == {
        "start_month": "2024-01",
        "end_month": "2024-03",
    }
