"""What pictures are compared by in `neighbors`, `degrees` and `map`: statistics of the
model's own encoder pooled over the picture (pooled), the flattened latent, or an open_clip
image embedding from a local folder, each as one point per picture (space)."""
