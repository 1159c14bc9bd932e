"""Windowed datasets, normalization, the 1D ResNet family, training and checkpoints."""
