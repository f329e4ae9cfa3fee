"""Benchmarks that write their figures as JSON under bench/results/."""
