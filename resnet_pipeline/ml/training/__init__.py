"""The training loop, its config, device and threads, and inference."""
