"""Signals, sizing, risk rules, the backtest engine and trading metrics."""
