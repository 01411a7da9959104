"""Video through ffmpeg: the writer, the reader, which binary runs, and what keeps a video's
latents steady over time (smoothing, optical flow)."""
