"""Operators: export a batch's results, and create batches."""
