"""Romano-Wolf's StepM names which trials beat a benchmark: the same set as arch's StepM on the
same data and seed, the clearly better trial in it and the skill-less one out."""

import numpy as np
import pandas as pd
import pytest
from arch.bootstrap import StepM

from resnet_pipeline.ml.evaluation.bootstrap import block_length
from resnet_pipeline.ml.trial_statistics.stepwise_superiority import stepwise_superiority
from resnet_pipeline.ml.trial_statistics.superior_predictive_ability import (
    superior_predictive_ability,
)
from resnet_pipeline_tests._reference_hansen import hansen_deviation

DAYS = pd.date_range("2024-01-01", periods=365, freq="D", tz="UTC")
BLOCK = block_length(len(DAYS))


def _shifted(seed: int, leads: list[float]) -> tuple[pd.DataFrame, pd.Series]:
    """Trials that are one noisy series plus a constant lead each: their differentials from
    the benchmark differ only by a constant, so every omega_k is the same and studentizing
    scales all of them alike; arch's StepM on the raw losses must then find the same set."""
    rng = np.random.default_rng(seed)
    common = rng.normal(0, 0.01, len(DAYS))
    frame = pd.DataFrame({f"t{k}": common + lead for k, lead in enumerate(leads)}, index=DAYS)
    return frame, pd.Series(rng.normal(0, 0.01, len(DAYS)), index=DAYS)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_set_equals_arch_stepm_on_the_same_data_and_seed(seed):
    frame, benchmark = _shifted(seed, [-0.002, 0.0, 0.001, 0.002, 0.003, 0.004])
    ours = stepwise_superiority(frame, benchmark, "buy-and-hold", reps=500, seed=seed)
    direct = StepM(-benchmark, -frame, size=0.05, block_size=BLOCK, reps=500, seed=seed)
    direct.compute()
    assert list(ours.better) == list(direct.superior_models)
    assert ours.block_size == BLOCK and ours.reps == 500 and ours.seed == seed
    assert 0 < len(ours.better) < frame.shape[1]  # the test separates, it does not pass all


def test_loud_and_quiet_trials_are_studentized_as_in_the_spa():
    rng = np.random.default_rng(3)
    scales = np.array([0.001, 0.002, 0.01, 0.02, 0.01])
    leads = np.array([0.0004, 0.0, 0.002, 0.0, -0.001])
    names = ["quiet", "idle", "loud", "noisy", "worse"]
    frame = pd.DataFrame(rng.normal(leads, scales, (len(DAYS), 5)), index=DAYS, columns=names)
    benchmark = pd.Series(0.0, index=DAYS)
    ours = stepwise_superiority(frame, benchmark, "cash", reps=400, seed=5)
    differentials = frame.to_numpy()
    omega = np.array([hansen_deviation(d, BLOCK) for d in differentials.T])
    studentized = -differentials / omega
    direct = StepM(np.zeros(len(DAYS)), studentized, block_size=BLOCK, reps=400, seed=5)
    direct.compute()
    assert list(ours.better) == [frame.columns[k] for k in direct.superior_models]
    assert ours.better == ("quiet", "loud")  # t about 7.6 and 3.8: each found, loud or not


def test_a_clearly_better_trial_is_named_and_a_skill_less_one_is_not():
    rng = np.random.default_rng(7)
    market = rng.normal(0, 0.01, len(DAYS))
    frame = pd.DataFrame(
        {
            "window-48": market + 0.002 + rng.normal(0, 0.004, len(DAYS)),
            "plain": market + rng.normal(0, 0.004, len(DAYS)),
        },
        index=DAYS,
    )
    step = stepwise_superiority(frame, pd.Series(market, index=DAYS), "buy-and-hold")
    spa = superior_predictive_ability(frame, pd.Series(market, index=DAYS), "buy-and-hold")
    assert step.better == ("window-48",)
    assert spa.consistent < 0.05  # StepM's first step is this SPA test
    assert step.to_dict()["better"] == ["window-48"]


def test_copies_of_the_benchmark_are_left_out_and_nothing_to_test_says_why():
    frame, benchmark = _shifted(4, [0.0, 0.003])
    frame["copy"] = benchmark.to_numpy()
    step = stepwise_superiority(frame, benchmark, "best baseline", reps=300)
    assert step.never_better == ("copy",) and step.tested_variants == 2
    assert "copy" not in step.better
    only = stepwise_superiority(frame[["copy"]], benchmark, "best baseline", reps=300)
    assert only.better == () and "nothing to test" in only.reason
    short = stepwise_superiority(frame.iloc[:2], benchmark.iloc[:2], "best baseline")
    assert short.better == () and "2 days, need at least 3" in short.reason
    with pytest.raises(ValueError, match="family-wise error rate"):
        stepwise_superiority(frame, benchmark, "best baseline", size=1.5)
