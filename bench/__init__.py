"""Benchmarks and experiment harnesses: run from a checkout, never installed or deployed."""
