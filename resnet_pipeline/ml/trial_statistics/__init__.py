"""Statistics of a verdict that counts every trial (SPEC 14): the deflated Sharpe ratio, the
probability of backtest overfitting, Hansen's superior predictive ability test, and the
verdict that combines them. Pure functions over daily returns; no Dagster."""
