"""Benchmarks: commands that measure, side by side in one run, and write their figures to JSON."""
