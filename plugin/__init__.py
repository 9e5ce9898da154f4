"""bgmatte.plugin: the node (inputs, params, passes, render), its engines, colour and image I/O."""
