"""rlblocks benchmark suite: `python -m benchmarks [--quick]` runs every bench_*.py."""
