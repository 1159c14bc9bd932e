"""Which trials beat a benchmark: Romano and Wolf's stepwise multiple test (StepM).

Hansen's SPA (``superior_predictive_ability``; Hansen, P. R. (2005), "A Test for Superior
Predictive Ability", Journal of Business & Economic Statistics 23(4), 365-380) answers whether
*any* trial beats the benchmark. A verdict that names the best trial needs more: whether *that*
trial is among those that beat it. Romano, J. P. & Wolf, M. (2005), "Stepwise Multiple Testing
as Formalized Data Snooping", Econometrica 73(4), 1237-1282, give the set: every trial whose
studentized lead over the benchmark exceeds the bootstrap critical value of the largest lead is
rejected as "no better"; the rest are tested again without it, until a step rejects none. The
chance of naming any trial that is in truth no better (the family-wise error) stays at most
``size`` over all of them.

The bootstrap is ``arch.bootstrap.StepM`` (its steps use Hansen's consistent recentering), fed
the same studentized leads as the SPA test (``studentized_leads``: arch leaves its own
studentize flag out of the critical values) with the same block length, replications and
seed, so StepM's first step is the SPA test the verdict reports. Variants that trail or equal
the benchmark by the same amount every day cannot beat it: they are left out and named, as in
the SPA.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
from arch.bootstrap import StepM

from resnet_pipeline.ml.trial_statistics.returns_matrix import (
    ReturnsMatrix,
    aligned_returns,
    returns_matrix,
)
from resnet_pipeline.ml.trial_statistics.superior_predictive_ability import (
    DEFAULT_REPS,
    studentized_leads,
)

DEFAULT_SIZE = 0.05


@dataclass(frozen=True)
class StepwiseSuperiority:
    """``better``: the trials StepM finds better than ``benchmark`` at family-wise error
    ``size`` (in column order); empty with ``reason`` when nothing could be tested."""

    benchmark: str
    better: tuple[str, ...]
    size: float
    reason: str | None
    block_size: int
    reps: int
    seed: int
    tested_variants: int = 0
    never_better: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return asdict(self) | {"better": list(self.better), "never_better": list(self.never_better)}


def stepwise_superiority(
    returns: ReturnsMatrix | pd.DataFrame | np.ndarray,
    benchmark: pd.Series | np.ndarray,
    benchmark_name: str,
    size: float = DEFAULT_SIZE,
    reps: int = DEFAULT_REPS,
    seed: int = 0,
) -> StepwiseSuperiority:
    """The trials whose daily returns beat ``benchmark``'s at family-wise error ``size``."""
    if not 0 < size < 1:
        raise ValueError(f"size={size}: the family-wise error rate must lie in (0, 1), e.g. 0.05")
    matrix = returns if isinstance(returns, ReturnsMatrix) else returns_matrix(returns)
    base = aligned_returns(benchmark, matrix, benchmark_name)
    leads = studentized_leads(matrix, base, benchmark_name)
    result = StepwiseSuperiority(
        benchmark_name,
        (),
        size,
        leads.reason,
        leads.block_size,
        reps,
        seed,
        tested_variants=len(leads.tested),
        never_better=leads.never_better,
    )
    if leads.reason:
        return result
    test = StepM(
        np.zeros(matrix.n_days),
        -leads.leads,
        size=size,
        block_size=leads.block_size,
        reps=reps,
        seed=seed,
    )
    test.compute()
    better = tuple(leads.tested[int(k)] for k in test.superior_models)
    return replace(result, better=better)
