"""Benchmarks and the data sets they (and the TPC-H tests) share. Never run by ``make test``."""
