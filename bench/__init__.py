"""Load benchmarks run with `make bench-*`; never imported by the application."""
