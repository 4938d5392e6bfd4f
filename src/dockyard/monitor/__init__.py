"""Monitoring a model after release: drift statistics and their verdicts."""
