"""The matting network, after BGMv2 (Lin et al., "Real-Time High-Resolution Background
Matting", CVPR 2021): a base encoder-decoder at reduced resolution and a refiner that
re-predicts the patches its error map marks at full resolution.

One class per stage: :mod:`.mobilenet` and :mod:`.resnet` (encoders), :mod:`.base`
(ASPP, decoder, base network), :mod:`.refiner`, :mod:`.network` (the two together, config,
weights), :mod:`.encoding` (the HDR-safe transfer the network sees).
"""
