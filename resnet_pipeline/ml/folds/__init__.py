"""Monthly walk-forward folds: which rows a fold trains on, training it, predicting its month."""
