"""Windows, datasets, splits, normalization, augmentation and their lineage."""
