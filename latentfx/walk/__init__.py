"""Latent walks: keyframes, when each frame happens (timeline, easing, pacing), paths
through latent space, and the renderer that turns them into frames."""
