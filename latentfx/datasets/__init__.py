"""Datasets latentfx can generate itself, with known factors of variation."""
