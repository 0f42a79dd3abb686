"""Triggers: fully async waits that run in the triggerer's shared event loop."""
