"""bgmatte.host_bridge: the hosts that drive the node: the command line and farm renders,
OpenFX, Python (``bgmatte.matte``), with image I/O and frame sequences."""
