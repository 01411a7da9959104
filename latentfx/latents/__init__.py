"""Working with latents: stores of a folder's latents, queries against them, attribute
vectors, material transfer and tiled inference for large pictures."""
