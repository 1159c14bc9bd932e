"""A fold's files name the model they belong to; one data version per wf_model run."""

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from resnet_pipeline.ml.folds.fold_identity import (
    MODEL_DIGEST_KEY,
    PREDICTIONS_DIGEST_COLUMN,
    FoldMismatchError,
    check_fold_info,
    check_predictions,
    run_data_version,
)

MARCH = date(2024, 3, 1)
DIGEST = st.text("0123456789abcdef", min_size=64, max_size=64)
FOLDS = st.dictionaries(
    st.sampled_from([f"2024-{m:02d}-01|BTCUSDT" for m in range(1, 13)]), DIGEST, min_size=1
)


@given(FOLDS, st.randoms())
def test_a_run_version_ignores_order_and_follows_every_fold(folds, rng):
    pairs = list(folds.items())
    version = run_data_version(pairs)
    rng.shuffle(pairs)
    assert run_data_version(pairs) == version
    if len(pairs) == 1:
        assert version == pairs[0][1]  # one fold: its model's digest
    key = pairs[0][0]
    changed = {**folds, key: "0" * 64 if folds[key] != "0" * 64 else "1" * 64}
    assert run_data_version(changed.items()) != version


@given(DIGEST, DIGEST, st.integers(1, 50), st.integers(0, 49))
def test_predictions_pass_only_when_every_row_names_the_current_model(current, other, n, at):
    frame = pd.DataFrame({"p_up": np.zeros(n), PREDICTIONS_DIGEST_COLUMN: [current] * n})
    check_predictions(frame, current, MARCH)
    mixed = frame.copy()
    mixed.loc[at % n, PREDICTIONS_DIGEST_COLUMN] = other
    if other != current:
        with pytest.raises(FoldMismatchError, match="fold 2024-03: the predictions were made"):
            check_predictions(mixed, current, MARCH)
    with pytest.raises(FoldMismatchError, match="none recorded"):
        check_predictions(frame.drop(columns=PREDICTIONS_DIGEST_COLUMN), current, MARCH)


def test_fold_json_must_name_the_model_beside_it():
    check_fold_info({MODEL_DIGEST_KEY: "a" * 64}, "a" * 64, MARCH)
    with pytest.raises(FoldMismatchError, match="fold.json describes model bbbbbbbbbbbb but"):
        check_fold_info({MODEL_DIGEST_KEY: "b" * 64}, "a" * 64, MARCH)
    with pytest.raises(FoldMismatchError, match="describes model none recorded"):
        check_fold_info(None, "a" * 64, MARCH)
