"""Choices shared by the library and the CLI. Kept free of heavy imports so that
`latentfx --help` never loads torch."""

FAMILIES = ("vector", "spatial")
FIT_POLICIES = ("center-crop", "pad", "random-crop")
INFERENCE_FITS = ("center-crop", "pad")  # random crops make sense for training only
FRAME_FITS = ("crop", "pad", "stretch")  # walks, mixes, stores: any frame size and aspect
AUGMENTS = ("none", "flip", "strong")
DEVICES = ("auto", "cpu", "cuda", "mps")
