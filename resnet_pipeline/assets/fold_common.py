"""What the walk-forward assets share (SPEC 13): their group and the folds of a run in order.

Files (``Layout.fold``): ``<root>/walk_forward/<S>/<YYYY-MM>/`` holds the fold's ``model.pt``,
``fold.json`` and ``predictions.parquet``; ``wf_report`` writes ``Layout.reports(S).walk_forward``.
A range of folds runs in one run (``BackfillPolicy.single_run()``), oldest month first, so a
warm start finds the previous month's model of the same run.
"""

from __future__ import annotations

from datetime import date

import dagster as dg

from resnet_pipeline.partitions import split_key

WALK_FORWARD = "walk_forward"


def sorted_folds(context: dg.AssetExecutionContext) -> list[tuple[str, date]]:
    """(symbol, month) of every partition of this run, oldest month first."""
    return sorted((split_key(k) for k in context.partition_keys), key=lambda sm: (sm[0], sm[1]))
