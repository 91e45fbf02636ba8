"""Benchmarks: the vault measured against a bare gRPC echo service in the same run."""
