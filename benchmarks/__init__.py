"""Benchmarks: `python benchmarks/bench_*.py` (or `mocap bench NAME`)."""
