"""What the walk-forward assets share (SPEC 13): their group, the folds of a run in order, and
the digests of the months a fold reads.

Files (``Layout.fold``): ``<root>/walk_forward/<S>/<YYYY-MM>/`` holds the fold's ``model.pt``,
``fold.json`` and ``predictions.parquet``; ``wf_report`` writes ``Layout.reports(S).walk_forward``.
A range of folds runs in one run (``BackfillPolicy.single_run()``), oldest month first, so a
warm start finds the previous month's model of the same run.
"""

from __future__ import annotations

from datetime import date

import dagster as dg

from resnet_pipeline.artifacts import exists, file_sha256, read_json
from resnet_pipeline.layout import FoldFiles
from resnet_pipeline.partitions import split_key
from resnet_pipeline.resources.io_manager import DataStore

WALK_FORWARD = "walk_forward"
FOLD_INPUTS = ("features", "labels")


def sorted_folds(context: dg.AssetExecutionContext) -> list[tuple[str, date]]:
    """(symbol, month) of every partition of this run, oldest month first."""
    return sorted((split_key(k) for k in context.partition_keys), key=lambda sm: (sm[0], sm[1]))


def input_digests(store: DataStore, symbol: str, months: list[date]) -> dict[str, str]:
    """sha256 of each month's features and labels files: what a fold was trained on."""
    out = {}
    for month in months:
        for asset in FOLD_INPUTS:
            path = store.layout.partition(asset, symbol, month)
            if exists(path):
                out[f"{asset}/{month:%Y-%m}"] = file_sha256(path)
    return out


def fold_info(files: FoldFiles) -> dict | None:
    """The fold's ``fold.json`` (None when there is none)."""
    return read_json(files.info) if exists(files.info) else None
