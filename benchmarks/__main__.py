"""``python -m benchmarks``: every benchmark and one summary table (see :mod:`benchmarks.run_all`)."""

from __future__ import annotations

from benchmarks.run_all import main

main()
