"""Benchmarks, run by ``make bench`` (never by ``make test``): ``python -m bench [NAME ...]``."""
