"""The 1D ResNet and its self-contained checkpoint."""
