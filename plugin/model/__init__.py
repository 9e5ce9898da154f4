"""The matting network, after BGMv2 (Lin et al., "Real-Time High-Resolution Background
Matting", CVPR 2021): a base encoder-decoder at reduced resolution and a refiner that
re-predicts the patches its error map marks at full resolution.

One class per stage: :mod:`.mobilenet` and :mod:`.resnet` (encoders), :mod:`.decoder`
(ASPP, decoder), :mod:`.refiner`, :mod:`.network` (the base network and the refiner together,
config, weights), :mod:`.ort` (the onnxruntime runtime), :mod:`.encoding` (the HDR-safe
transfer the network sees).
"""
