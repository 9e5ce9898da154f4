"""bgmatte.kernels."""
