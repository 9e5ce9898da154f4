"""The test suite. A package so that test modules can import the helper modules beside them
(``from .ofx_host import Host``) under ``--import-mode=importlib``."""
