"""The model's job, cut by floor (each imports only those below it):

- ``data``: windows, datasets, splits, normalization, augmentation, lineage;
- ``model``: the 1D ResNet and its checkpoint;
- ``training``: the training loop, its config, device and threads, inference;
- ``evaluation``: metrics, baselines, calibration, bootstrap intervals;
- ``folds``: monthly walk-forward folds (train a fold, predict its month);
- ``trial_statistics``: the verdict over many trials (DSR, PBO, SPA).
"""
