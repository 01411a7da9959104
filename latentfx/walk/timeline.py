"""When each frame of a walk happens: frame counts per segment, holds, loops.

An open path through K keyframes with N frames per segment has N*(K-1)+1 frames: every
segment starts on its keyframe, and the last keyframe is rendered too. A loop has N*K: the
frame after the last is the first again, so no frame repeats at the seam. `hold` adds that
many copies of each keyframe's frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from latentfx.errors import InputError


@dataclass(frozen=True)
class Timeline:
    segment: torch.Tensor   # (F,) long: which segment each output frame lies on
    fraction: torch.Tensor  # (F,) float64: time within the segment, before easing, in [0, 1]
    keyframe_frames: tuple[int, ...]  # output index of the first frame on each keyframe

    def __len__(self) -> int:
        return len(self.segment)


def segment_frame_counts(*, segments: int, loop: bool, keyframes: int, fps: float,
                         frames: int | None = None, duration: float | None = None,
                         durations: tuple[float, ...] | None = None, hold: int = 0) -> list[int]:
    """Frames per segment (each counted from its first keyframe up to, not including, the
    next), from exactly one of: frames per segment, a total duration, per-segment durations."""
    given = [name for name, v in (("--frames", frames), ("--duration", duration),
                                  ("--durations", durations)) if v is not None]
    if len(given) > 1:
        raise InputError(f"give one of --frames, --duration, --durations, not {' and '.join(given)}")
    if fps <= 0:
        raise InputError(f"--fps must be positive, got {fps:g}")
    if frames is not None:
        if frames < 1:
            raise InputError(f"--frames must be at least 1, got {frames}")
        return [frames] * segments
    if durations is not None:
        if len(durations) != segments:
            raise InputError(f"--durations has {len(durations)} entries but the path has "
                             f"{segments} segment(s){' (a loop has one per keyframe)' if loop else ''}")
        counts = [round(d * fps) for d in durations]
        bad = [f"{d:g}" for d, n in zip(durations, counts) if d <= 0 or n < 1]
        if bad:
            raise InputError(f"--durations {', '.join(bad)}: each segment needs a positive "
                             f"duration of at least one frame (1/{fps:g} s)")
        return counts
    if duration is None:
        raise InputError("give --frames, --duration or --durations")
    if duration <= 0:
        raise InputError(f"--duration must be positive, got {duration:g}")
    total = round(duration * fps)
    moving = total - (0 if loop else 1) - hold * keyframes
    if moving < segments:
        raise InputError(f"--duration {duration:g} s at {fps:g} fps is {total} frames: too short "
                         f"for {segments} segment(s) with --hold {hold}")
    return allocate(moving, [1.0] * segments)


def allocate(total: int, weights: list[float]) -> list[int]:
    """Split `total` frames in proportion to `weights`, at least one each, summing exactly
    to `total` (largest remainders get the spare frames; ties go to earlier segments)."""
    if total < len(weights):
        raise ValueError(f"cannot give {len(weights)} segments a frame each from {total}")
    spare = total - len(weights)
    weight_sum = sum(weights)
    shares = [spare * (w / weight_sum if weight_sum > 0 else 1 / len(weights)) for w in weights]
    counts = [1 + int(share) for share in shares]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(shares[i] - int(shares[i])), i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def build_timeline(counts: list[int], *, loop: bool, hold: int = 0) -> Timeline:
    """Output frames for the given per-segment counts."""
    segment, fraction, key_frames = [], [], []

    def keyframe(s: int, f: float) -> None:
        key_frames.append(len(segment))
        segment.extend([s] * (1 + hold))
        fraction.extend([f] * (1 + hold))

    for s, n in enumerate(counts):
        keyframe(s, 0.0)
        segment.extend([s] * (n - 1))
        fraction.extend(j / n for j in range(1, n))
    if not loop:
        keyframe(len(counts) - 1, 1.0)  # the last keyframe is a frame too
    return Timeline(torch.tensor(segment, dtype=torch.long),
                    torch.tensor(fraction, dtype=torch.float64), tuple(key_frames))
