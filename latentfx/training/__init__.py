"""Training a conv-VAE on a folder of images: data, loss, loop, checkpoints of the run."""
