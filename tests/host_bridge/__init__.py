"""Tests of the host bridge: the command line, image I/O and the OpenFX bundle."""
