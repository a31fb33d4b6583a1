"""Benchmarks: run each as ``python -m benchmarks.<script> --help`` from the repository root."""
