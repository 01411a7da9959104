"""The prior a model's latents are drawn from, and how its encoded data sits against it: the
latent statistics of a set of posteriors (means, spread, length, KL per dimension, active
units), and a Gaussian mixture fitted to the encoded training data (ex-post density
estimation, Ghosh et al., ICLR 2020), which `sample`, `seed:N` keyframes and `walk --random`
can draw from instead of N(0, I)."""
