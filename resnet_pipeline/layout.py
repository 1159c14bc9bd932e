"""Where every artifact lives under the data root: the one place that spells a storage path.

```
<root>/<asset>/symbol=<S>/month=<YYYY-MM>.parquet   raw_candles, features, labels (hive style)
<root>/datasets/<S>/                                 dataset_splits (matrix, labels, meta.json)
<root>/models/<S>/model.pt, training_state.pt        trained_model
<root>/reports/<S>/...                               test_metrics, backtest_report
<root>/reports/history/<asset>/symbol=<S>/<run>.parquet   one row per run, for DuckDB
<root>/walk_forward/<S>/<YYYY-MM>/                   a fold: model.pt, fold.json, predictions
<root>/reports/<S>/walk_forward/                     wf_report
<root>/experiments/<E>/<S>/trials/<hash>/            one trial of experiment E (the ledger)
    trial.json, daily_returns.parquet, <YYYY-MM>/    its configuration, returns, and folds
<root>/experiments/<E>/<S>/report/                   experiment_report
<root>/experiments/<E>/<S>/search.db                 the search's Optuna study (SQLite)
<root>/experiments/<E>/<S>/search/trials/<hash>/     trials a search ran on its own months
<root>/mlruns/                                       MLflow tracking store (tracking.py)
```

The root is a local directory or an fsspec URL (``s3://bucket/prefix``); every path is a
``UPath`` either way (``artifacts.as_path``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date

from upath import UPath

from resnet_pipeline.artifacts import as_path

MONTH_FORMAT = "%Y-%m"


def partition_name(symbol: str, month: date) -> str:
    """``symbol=<S>/month=<YYYY-MM>``: a month partition below its asset's folder (no suffix)."""
    return f"symbol={symbol}/month={month:%Y-%m}"


def month_of_file(name: str) -> date | None:
    """``month=2024-01.parquet`` -> date(2024, 1, 1); None for any other file name."""
    if not (name.startswith("month=") and name.endswith(".parquet")):
        return None
    try:
        return date.fromisoformat(name[len("month=") : -len(".parquet")] + "-01")
    except ValueError:
        return None


@dataclass(frozen=True)
class FoldFiles:
    """The files of one walk-forward fold (symbol, month)."""

    folder: UPath

    @property
    def model(self) -> UPath:
        return self.folder / "model.pt"

    @property
    def info(self) -> UPath:
        return self.folder / "fold.json"

    @property
    def predictions(self) -> UPath:
        return self.folder / "predictions.parquet"

    @property
    def training_state(self) -> UPath:
        return self.folder / "training_state.pt"


@dataclass(frozen=True)
class ReportFiles:
    """A symbol's evaluation files (test_metrics, backtest_report)."""

    folder: UPath

    @property
    def test_predictions(self) -> UPath:
        return self.folder / "test_predictions.parquet"

    @property
    def test_metrics(self) -> UPath:
        return self.folder / "test_metrics.json"

    @property
    def backtest_metrics(self) -> UPath:
        return self.folder / "backtest_metrics.json"

    @property
    def trades(self) -> UPath:
        return self.folder / "trades.parquet"

    @property
    def equity(self) -> UPath:
        return self.folder / "equity.parquet"

    @property
    def backtest_html(self) -> UPath:
        return self.folder / "report.html"

    @property
    def walk_forward(self) -> WalkForwardReportFiles:
        """wf_report's files: stitched predictions, summary JSON and the HTML report."""
        return WalkForwardReportFiles(self.folder / "walk_forward")


@dataclass(frozen=True)
class WalkForwardReportFiles:
    """What wf_report writes for one symbol."""

    folder: UPath

    @property
    def stitched_predictions(self) -> UPath:
        return self.folder / "stitched_predictions.parquet"

    @property
    def summary(self) -> UPath:
        return self.folder / "walk_forward.json"

    @property
    def html(self) -> UPath:
        return self.folder / "report.html"


@dataclass(frozen=True)
class TrialFiles:
    """One trial of an experiment: a resolved configuration, named by its hash. Its folds
    have a walk-forward fold's files, keyed by this hash, so an edited variant (another hash)
    never overwrites the trial it replaced."""

    folder: UPath

    @property
    def record(self) -> UPath:
        """trial.json: the resolved configuration, its hash, the variant's name."""
        return self.folder / "trial.json"

    @property
    def daily_returns(self) -> UPath:
        """The trial's daily strategy returns, as the latest experiment report scored them."""
        return self.folder / "daily_returns.parquet"

    def fold(self, month: date) -> FoldFiles:
        return FoldFiles(self.folder / f"{month:%Y-%m}")


@dataclass(frozen=True)
class ExperimentReportFiles:
    """What experiment_report writes for one experiment and symbol."""

    folder: UPath

    @property
    def html(self) -> UPath:
        return self.folder / "report.html"

    @property
    def summary(self) -> UPath:
        return self.folder / "report.json"

    @property
    def daily_returns(self) -> UPath:
        """Every scored trial's and benchmark's daily returns, one column each."""
        return self.folder / "daily_returns.parquet"


@dataclass(frozen=True)
class ExperimentFiles:
    """One experiment's artifacts for one symbol: its trial ledger and its report."""

    folder: UPath

    @property
    def trials_folder(self) -> UPath:
        return self.folder / "trials"

    def trial(self, config_hash: str) -> TrialFiles:
        return TrialFiles(self.trials_folder / config_hash)

    @property
    def report(self) -> ExperimentReportFiles:
        return ExperimentReportFiles(self.folder / "report")

    @property
    def search_db(self) -> UPath:
        """The search's Optuna study as SQLite, where no shared database is configured."""
        return self.folder / "search.db"

    @property
    def search(self) -> ExperimentFiles:
        """The ledger of trials a search ran on its search months: the verdict, on the later
        months, does not count them (they never saw its months)."""
        return ExperimentFiles(self.folder / "search")


@dataclass(frozen=True)
class Layout:
    """Every artifact path under one data root."""

    root: UPath

    @classmethod
    def at(cls, root: str | os.PathLike[str]) -> Layout:
        return cls(as_path(root))

    # -- month partitions of raw_candles, features, labels ---------------------------------

    def symbol_folder(self, asset: str, symbol: str) -> UPath:
        return self.root / asset / f"symbol={symbol}"

    def partition(self, asset: str, symbol: str, month: date) -> UPath:
        return self.root / asset / f"{partition_name(symbol, month)}.parquet"

    # -- one symbol ------------------------------------------------------------------------

    def dataset(self, symbol: str) -> UPath:
        return self.root / "datasets" / symbol

    def model_folder(self, symbol: str) -> UPath:
        return self.root / "models" / symbol

    def checkpoint(self, symbol: str) -> UPath:
        return self.model_folder(symbol) / "model.pt"

    def training_state(self, symbol: str) -> UPath:
        return self.model_folder(symbol) / "training_state.pt"

    def reports(self, symbol: str) -> ReportFiles:
        return ReportFiles(self.root / "reports" / symbol)

    def history(self, asset: str, symbol: str, run_id: str) -> UPath:
        """One file per run: appending is a new atomic file, and DuckDB reads them together."""
        return self.root / "reports" / "history" / asset / f"symbol={symbol}" / f"{run_id}.parquet"

    # -- walk-forward ----------------------------------------------------------------------

    def folds_folder(self, symbol: str) -> UPath:
        return self.root / "walk_forward" / symbol

    def fold(self, symbol: str, month: date) -> FoldFiles:
        return FoldFiles(self.folds_folder(symbol) / f"{month:%Y-%m}")

    # -- experiments (SPEC 14) ---------------------------------------------------------------

    def experiment(self, experiment: str, symbol: str) -> ExperimentFiles:
        return ExperimentFiles(self.root / "experiments" / experiment / symbol)

    # -- experiment tracking -----------------------------------------------------------------

    def mlflow_store(self) -> UPath:
        """The local MLflow store's folder (its database and run artifacts: ``tracking``)."""
        return self.root / "mlruns"

    def relative(self, path: str | os.PathLike[str]) -> str:
        """``path`` relative to the root, as lineage records it (no machine's directories)."""
        text, base = str(as_path(path)), str(self.root).rstrip("/")
        return text[len(base) + 1 :] if text.startswith(base + "/") else text
