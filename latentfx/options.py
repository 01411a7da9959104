"""Choices shared by the library and the CLI. Kept free of heavy imports so that
`latentfx --help` never loads torch."""

FAMILIES = ("vector", "spatial")
FIT_POLICIES = ("center-crop", "pad", "random-crop")
INFERENCE_FITS = ("center-crop", "pad")  # random crops make sense for training only
AUGMENTS = ("none", "flip", "strong")
DEVICES = ("auto", "cpu", "cuda", "mps")
