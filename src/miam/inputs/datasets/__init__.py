"""Embedded benchmarks generated in the real datasets' file layouts (see README.md here)."""
