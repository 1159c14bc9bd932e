"""The model and the dataset it was trained on, loaded together and refused if they differ.

Evaluation, the backtest and the live signal all start here: a checkpoint whose dataset
fingerprint is not the current dataset's would be evaluated on its own training rows.
"""

import dagster as dg

from resnet_pipeline.ml.data.dataset import DatasetSplits
from resnet_pipeline.ml.data.dataset_store import DatasetError
from resnet_pipeline.ml.data.lineage import LineageError
from resnet_pipeline.ml.model.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from resnet_pipeline.resources.io_manager import DataStore


def load_checked_model(store: DataStore, symbol: str) -> tuple[Checkpoint, DatasetSplits]:
    """The symbol's checkpoint and dataset, as a Failure naming the fix when they differ."""
    try:
        checkpoint = load_checkpoint(
            store.layout.checkpoint(symbol), asset="trained_model", partition=symbol
        )
        splits = DatasetSplits.load(store.layout.dataset(symbol))
        checkpoint.check_features(splits.channel_names)
        checkpoint.check_dataset(splits.lineage, splits.normalizer, symbol)
    except (CheckpointError, LineageError, DatasetError, FileNotFoundError) as error:
        raise dg.Failure(str(error)) from error
    return checkpoint, splits
