"""Tests of bgmatte.kernels: the NumPy bodies and their CuPy twins."""
