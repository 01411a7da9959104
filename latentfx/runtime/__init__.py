"""Where and how work runs: device choice, the memory allocator, out-of-memory batch
halving, and a consumer thread that overlaps work."""
