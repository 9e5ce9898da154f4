"""bgmatte.host_bridge: adapters that let a host drive the node (command line, farm, OpenFX)."""
