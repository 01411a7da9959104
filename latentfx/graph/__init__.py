"""The neighbour graph over a pool of latents and the chain search behind `degrees`, with
the cache that keeps built graphs between runs."""
