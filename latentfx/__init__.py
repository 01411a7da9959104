"""latentfx: convolutional VAEs and the media made from their latent spaces."""

__version__ = "0.1.0"
