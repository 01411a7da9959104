"""Latent walks: keyframes, when each frame happens (timeline, easing, pacing), paths
through latent space, the renderer that turns them into frames, a walk built from a loaded
model ready to render in any range (frames), and writing it as a video (video)."""
