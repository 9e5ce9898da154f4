"""bgmatte.bench: the demo and the benchmarks, commands that print figures; one module per
benchmark, each declaring its ``bgmatte bench`` subcommand, listed in :mod:`.registry`.

Support code, not the product: the node (:mod:`bgmatte.plugin`) never imports it, and of
its hosts (:mod:`bgmatte.host_bridge`) only the command line does, for these commands. It
ships with the package so that ``bgmatte demo`` and ``bgmatte bench ...`` run on any
installed copy.
"""
