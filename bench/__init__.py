"""Benchmarks (run by hand, not by pytest): see `bench/ingest.py`."""
