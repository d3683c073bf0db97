"""Backtests: the strategy's own code in its sandboxed executor over recorded data, a fill model, statistics."""
