"""Benchmarks: not part of the test suite (pytest collects ``test_*.py`` only).

Each module runs on its own and prints its figures and a ratio against a baseline run in the same
process on the same data::

    .venv/bin/python -m tests.benchmarks.bench_fetch
    .venv/bin/python -m tests.benchmarks.bench_process
"""
