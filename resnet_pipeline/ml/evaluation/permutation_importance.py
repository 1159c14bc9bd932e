"""What a model looks at: permutation importance (Breiman 2001) per channel and per channel
family on a fold's predicted month, for the window model and for the trees baseline.

The importance of a channel is how much worse the month is predicted when that channel's
values are shuffled across the month's windows. A window model reads a channel as a whole
sequence, so the shuffle moves whole windows of it: window i receives channel c of window
pi(i), all its minutes together, as the model input has it (prices relative to their own
window's close). The channel's marginal, and its shape inside a window, are kept; its link
to the label and to the other channels of the window is broken. A family (the registry's,
``features.families``) is all of its channels that the model reads, moved together.

Each of ``importance_shuffles`` seeded shuffles draws one permutation and applies it to every
channel and family alike, so a family holding one channel scores exactly as that channel,
and the same seed gives the same figures. Drops read "how much worse": log loss after minus
before, one-vs-rest AUC before minus after (``ml.evaluation.classification``'s definitions,
probabilities floored as there), and the direction AUC before minus after. Positive: the model
relied on it; exactly 0: its output does not read it; negative: shuffling helped (noise the
model fitted).

Why a direction AUC beside the SPEC's metrics: how volatile the window was tells a move from
no move (Neutral) on any market with volatility clustering, so log loss and one-vs-rest AUC
credit the volatility channels even on a market without an edge. The direction AUC (the AUC
of p_up - p_down between the windows labelled Up and those labelled Down) measures only what
tells up from down: what a strategy trades on, and where the planted pattern lives.

The trees baseline sees the newest row of each window (``baselines.last_rows``): its channels
go through scikit-learn's ``permutation_importance`` (same seed, same metrics); scikit-learn
has no groups of columns, so its families are shuffled here, on the same rows. A month's
windows are a seeded sample of at most ``importance_windows`` (the cost is one prediction of
the sample per shuffle of each channel and family: ``benchmarks/bench_importance.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.special import softmax
from sklearn.inspection import permutation_importance
from sklearn.metrics import roc_auc_score
from torch import nn

from resnet_pipeline.features.families import FAMILY_OF_CHANNEL
from resnet_pipeline.features.labels import DOWN, UP
from resnet_pipeline.ml.data.dataset import DatasetSplits
from resnet_pipeline.ml.evaluation.baselines import TreesBaseline, last_rows
from resnet_pipeline.ml.evaluation.calibration import log_loss_at, logits_from_probabilities
from resnet_pipeline.ml.evaluation.classification import auc_ovr
from resnet_pipeline.ml.evaluation.importance_config import ImportanceConfig
from resnet_pipeline.ml.training.inference import INFERENCE_BATCH, predict_proba

METRICS = ("log_loss", "auc_roc_ovr", "direction_auc")
LOWER_IS_BETTER = ("log_loss",)
CHANNEL, FAMILY = "channel", "family"
DEFAULT_IMPORTANCE = ImportanceConfig()
COLUMNS = ("predictor", "kind", "name", "metric", "mean", "std", "before", "shuffles", "windows")


def family_groups(channels: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """{family: positions of its channels in ``channels``} for the registry's families the
    channels come from, in registry order of first appearance."""
    unknown = [c for c in channels if c not in FAMILY_OF_CHANNEL]
    if unknown:
        raise ValueError(
            f"channel(s) {unknown} belong to no registered family (features/families.py): "
            "importances group a model's channels by the family that computes them"
        )
    groups: dict[str, list[int]] = {}
    for position, name in enumerate(channels):
        groups.setdefault(FAMILY_OF_CHANNEL[name].name, []).append(position)
    return {family: tuple(positions) for family, positions in groups.items()}


def direction_auc(y: np.ndarray, proba: np.ndarray) -> float:
    """AUC of p_up - p_down between the windows labelled Up and Down (NaN without both)."""
    moved = (y == UP) | (y == DOWN)
    if len(np.unique(y[moved])) < 2:
        return np.nan
    return float(roc_auc_score(y[moved] == UP, proba[moved, UP] - proba[moved, DOWN]))


def scores(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """``METRICS`` of probabilities [N, 3] at labels [N]; an AUC is NaN without its classes."""
    logits = logits_from_probabilities(proba)
    floored = softmax(logits, axis=1)
    auc = auc_ovr(y, floored)
    return {
        "log_loss": log_loss_at(logits, y),
        "auc_roc_ovr": np.nan if auc is None else auc,
        "direction_auc": direction_auc(y, floored),
    }


def drops(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """How much worse ``after`` is: more log loss, less AUC."""
    return {
        m: after[m] - before[m] if m in LOWER_IS_BETTER else before[m] - after[m] for m in METRICS
    }


def sampled(ends: np.ndarray, config: ImportanceConfig, seed: int) -> np.ndarray:
    """The windows measured: all, or a seeded sample of ``importance_windows`` in time order."""
    ends = np.asarray(ends, np.int64)
    limit = config.importance_windows
    if limit is None or len(ends) <= limit:
        return ends
    rng = np.random.default_rng([seed, len(ends)])
    return ends[np.sort(rng.choice(len(ends), limit, replace=False))]


def permutations(n: int, shuffles: int, seed: int) -> list[np.ndarray]:
    """One seeded permutation of the ``n`` windows per shuffle, shared by every channel."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(n) for _ in range(shuffles)]


# (positions of the channels to move, permutation or None) -> probabilities [N, classes]
Shuffled = Callable[[tuple[int, ...], np.ndarray | None], np.ndarray]


def shuffle_drops(
    predict: Shuffled,
    y: np.ndarray,
    groups: Mapping[str, tuple[int, ...]],
    perms: Sequence[np.ndarray],
) -> tuple[dict[str, float], dict[str, dict[str, np.ndarray]]]:
    """The scores before, and {group: {metric: drop per shuffle}}."""
    before = scores(y, predict((), None))
    out = {}
    for name, channels in groups.items():
        per_shuffle = [drops(before, scores(y, predict(channels, perm))) for perm in perms]
        out[name] = {m: np.array([d[m] for d in per_shuffle]) for m in METRICS}
    return before, out


def _rows(
    predictor: str,
    kind: str,
    before: Mapping[str, float],
    per_group: Mapping[str, Mapping[str, np.ndarray]],
    windows: int,
) -> list[dict]:
    return [
        {
            "predictor": predictor,
            "kind": kind,
            "name": name,
            "metric": metric,
            "mean": float(np.mean(values)),
            "std": float(np.std(values)),
            "before": float(before[metric]),
            "shuffles": len(values),
            "windows": windows,
        }
        for name, by_metric in per_group.items()
        for metric, values in by_metric.items()
    ]


def shuffled_windows(
    splits: DatasetSplits,
    ends: np.ndarray,
    channels: tuple[int, ...],
    perm: np.ndarray | None,
    batch: int = INFERENCE_BATCH,
) -> Iterator[tuple[np.ndarray, None]]:
    """Model inputs of the windows ending at ``ends``, batch by batch (as a loader yields
    them), with ``channels`` taken from the windows ``perm`` sends there."""
    for start in range(0, len(ends), batch):
        x = splits.windows(ends[start : start + batch])
        if perm is not None and channels:
            donors = splits.windows(ends[perm[start : start + batch]])
            x[:, list(channels)] = donors[:, list(channels)]
        yield x, None


def model_channels(splits: DatasetSplits) -> tuple[str, ...]:
    """The channels of the model input, in its order (the normalizer finishes the windows)."""
    names = tuple(splits.normalizer.channel_names)
    if splits.matrix.shape[1] != len(names):
        raise ValueError(
            f"the dataset has {splits.matrix.shape[1]} channels and its normalizer names "
            f"{len(names)}: build the splits and the normalizer from the same channels"
        )
    return names


def window_importance(
    model: nn.Module,
    splits: DatasetSplits,
    ends: np.ndarray,
    config: ImportanceConfig = DEFAULT_IMPORTANCE,
    seed: int = 0,
    precision: str = "auto",
) -> pd.DataFrame:
    """The window model's importances on the windows of ``splits`` ending at ``ends`` (a
    fold's month: ``fold.splits``, ``fold.splits.test_ends``), through the fast inference path
    (``predict_proba``, with ``precision`` as the fold predicts): ``COLUMNS``, per channel and
    per family."""
    names = model_channels(splits)
    ends = sampled(ends, config, seed)
    y = splits.labels[ends]
    perms = permutations(len(ends), config.importance_shuffles, seed)

    def predict(channels: tuple[int, ...], perm: np.ndarray | None) -> np.ndarray:
        batches = shuffled_windows(splits, ends, channels, perm)
        return predict_proba(model, batches, precision=precision)

    singles = {name: (i,) for i, name in enumerate(names)}
    before, per_channel = shuffle_drops(predict, y, singles, perms)
    _, per_family = shuffle_drops(predict, y, family_groups(names), perms)
    rows = _rows("model", CHANNEL, before, per_channel, len(ends))
    rows += _rows("model", FAMILY, before, per_family, len(ends))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _sklearn_scorer(estimator: TreesBaseline, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """``scores`` as scikit-learn's multimetric scorer: greater is better."""
    s = scores(y, estimator.predict_proba(x))
    return {m: -s[m] if m in LOWER_IS_BETTER else s[m] for m in METRICS}


def trees_importance(
    trees: TreesBaseline,
    splits: DatasetSplits,
    ends: np.ndarray,
    config: ImportanceConfig = DEFAULT_IMPORTANCE,
    seed: int = 0,
) -> pd.DataFrame:
    """The trees baseline's importances on the newest rows of the same windows as
    ``window_importance`` (the same sample for the same ``ends``, config and seed)."""
    names = model_channels(splits)
    ends = sampled(ends, config, seed)
    x, y = last_rows(splits, ends), splits.labels[ends]
    shuffles = config.importance_shuffles
    found = permutation_importance(
        trees, x, y, scoring=_sklearn_scorer, n_repeats=shuffles, random_state=seed
    )
    per_channel = {
        name: {m: np.asarray(found[m].importances[i], np.float64) for m in METRICS}
        for i, name in enumerate(names)
    }

    def predict(channels: tuple[int, ...], perm: np.ndarray | None) -> np.ndarray:
        if perm is None:
            return trees.predict_proba(x)
        moved = x.copy()
        moved[:, list(channels)] = x[perm][:, list(channels)]
        return trees.predict_proba(moved)

    perms = permutations(len(ends), shuffles, seed)
    before, per_family = shuffle_drops(predict, y, family_groups(names), perms)
    rows = _rows("trees", CHANNEL, before, per_channel, len(ends))
    rows += _rows("trees", FAMILY, before, per_family, len(ends))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def importance_records(frame: pd.DataFrame) -> list[dict]:
    """The frame as plain JSON values (NaN as None): for fold.json and MLflow."""
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    return [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()} for r in records
    ]
