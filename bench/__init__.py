"""bgmatte.bench: the demo and the benchmarks, commands that print figures.

Support code, not the product: the node (:mod:`bgmatte.plugin`) and its hosts
(:mod:`bgmatte.host_bridge`) never import it. It ships with the package so that
``bgmatte demo`` and ``bgmatte bench ...`` run on any installed copy.
"""
