"""Sensors: wait for a Bifrost batch to finish."""
