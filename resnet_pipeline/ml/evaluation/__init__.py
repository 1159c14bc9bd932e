"""Metrics, baselines, calibration and bootstrap intervals."""
