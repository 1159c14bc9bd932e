"""The 15 feature channels and the 3-class labels, as pure functions of candles."""
