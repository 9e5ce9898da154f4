"""bgmatte.plugin: the node: params, the stages of a frame, engines, model and training."""
