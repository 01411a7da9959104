"""Working with latents: encoding a folder with a loaded model, stores of a folder's latents,
queries against them, attribute vectors, material transfer and tiled inference for large
pictures."""
