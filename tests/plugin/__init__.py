"""Tests of bgmatte.plugin: the node, its stages and its model."""
