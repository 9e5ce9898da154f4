"""Tests of bgmatte.bench: the demo and the benchmarks."""
