"""Dense correspondence between two keyframe pictures, both ways, and how far to trust it.

A morph moves each keyframe's content towards where the other keyframe shows it, so it needs,
for every pixel of one picture, where that pixel is in the other. Found in two steps:

  1. A global motion: a homography fitted with RANSAC to ORB feature matches. It gets large
     pans, zooms and turns right, where a dense flow alone loses track beyond a few dozen
     pixels (the pan test's 48 px shift: DIS alone finds 39 px of it, the homography 48).
  2. DIS optical flow (Kroeger et al., ECCV 2016) between the first picture and the second
     moved by that homography: what the global motion leaves over (parallax, things that
     move by themselves, two different faces).

Then a confidence per pixel: a forward-backward check (following the flow there and back
must come home) times the local agreement of the two pictures around the matched points
(normalised cross-correlation, which forgives a change of light). The flow is scaled by it,
so where correspondence fails (occlusions, unrelated content) a pixel stays where it is and
is blended as in a plain walk. When little of the picture corresponds at all (two unrelated
photographs), nothing moves: the walk is the dissolve it was.

Everything here is deterministic (fixed RANSAC seed, OpenCV on one thread), so every process
that prepares the same walk computes the same flows: farm chunks agree with a local run.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch

# Long side of the pictures correspondence is measured on, whatever the frame size: smaller
# pictures hold too few features to fit the global motion to (at 180x120 the zoom of the
# README's sheet went unfound), larger ones cost time and find nothing more.
FLOW_SIDE = 512
ORB_FEATURES = 2000
RANSAC_PIXELS = 3.0      # reprojection error (at FLOW_SIDE) counted as an inlier
MIN_INLIERS = 30         # a homography needs this many inlier matches ...
MIN_INLIER_SHARE = 0.2   # ... and this share of all cross-checked matches, else none is used
ROUND_TRIP = 0.01        # forward-backward error (of the long side) at which trust is 1/e
NCC_WINDOW = 0.03        # side of the window for local agreement, of the long side
NCC_TRUSTED = (0.2, 0.6) # correlation below the first: no trust; above the second: full
FLAT = 4.0               # grey-level std (of 255) under which a window has no texture to judge
SMOOTHING = 0.02         # confidence map blur (sigma, of the long side): no tears at its edges
# Share of the picture's textured area that must correspond for any of it to move, ramping up
# smoothly between the two (measured: pans, zooms, turns and stereo views 0.7-0.95; unrelated
# photographs 0.05-0.25).
AGREEMENT = (0.3, 0.5)


@dataclass(frozen=True)
class Correspondence:
    """Where each pixel of picture A is in picture B and back, scaled by the trust in it."""

    forward: torch.Tensor   # (2, h, w): A(p) ~ B(p + forward(p)), (dx, dy) in pixels
    backward: torch.Tensor  # (2, h, w): B(p) ~ A(p + backward(p))
    agreement: float        # share of the textured picture that corresponds, 0 .. 1


def flow_size(height: int, width: int) -> tuple[int, int]:
    """(height, width) of the pictures to measure the correspondence of (height, width)
    frames on: their aspect, long side FLOW_SIDE."""
    scale = FLOW_SIDE / max(height, width)
    return max(8, round(height * scale)), max(8, round(width * scale))


def correspond(a: torch.Tensor, b: torch.Tensor) -> Correspondence:
    """Correspondence between two float (3, h, w) pictures in [0, 1] of one size (best
    flow_size of the frames); displacements are in their pixels."""
    ga, gb = _grey(a), _grey(b)
    with _one_thread():
        forward, backward = _flow(ga, gb), _flow(gb, ga)
        trust_a, share_a = _trust(ga, gb, forward, backward)
        trust_b, share_b = _trust(gb, ga, backward, forward)
    agreement = min(share_a, share_b)
    gate = _ramp(agreement, *AGREEMENT)

    def field(flow: np.ndarray, trust: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(flow * (gate * trust)[..., None]).permute(2, 0, 1)

    return Correspondence(field(forward, trust_a), field(backward, trust_b), agreement)


@contextlib.contextmanager
def _one_thread():
    """OpenCV on one thread for what runs inside, then as it was: its parallel loops split
    work by the number of threads, which must not change the result."""
    import cv2

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(threads)


def _grey(picture: torch.Tensor) -> np.ndarray:
    """(3, h, w) float in [0, 1] -> uint8 grey (h, w)."""
    import cv2

    rgb = picture.clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def _flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(h, w, 2) float32 d with a(p) ~ b(p + d(p)): the global homography, refined by DIS."""
    import cv2

    h, w = a.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    homography = _homography(a, b)
    mx, my = _apply(homography, xs, ys)
    moved = cv2.remap(b, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    rest = dis.calc(a, moved, None)
    # Beyond b's edge the moved picture is a smear of its border: no flow to find there.
    outside = (mx < 0) | (mx > w - 1) | (my < 0) | (my > h - 1)
    rest[outside] = 0.0
    fx, fy = _apply(homography, xs + rest[..., 0], ys + rest[..., 1])
    return np.stack([fx - xs, fy - ys], axis=-1).astype(np.float32)


def _homography(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 3x3 map of a's pixels onto b's, fitted to ORB matches; the identity when the
    matches do not agree on one (unrelated pictures, or nothing to match)."""
    import cv2

    orb = cv2.ORB_create(ORB_FEATURES)
    keys_a, desc_a = orb.detectAndCompute(a, None)
    keys_b, desc_b = orb.detectAndCompute(b, None)
    identity = np.eye(3)
    if desc_a is None or desc_b is None or min(len(keys_a), len(keys_b)) < MIN_INLIERS:
        return identity
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(desc_a, desc_b)
    if len(matches) < MIN_INLIERS:
        return identity
    pa = np.float32([keys_a[m.queryIdx].pt for m in matches])
    pb = np.float32([keys_b[m.trainIdx].pt for m in matches])
    cv2.setRNGSeed(0)  # RANSAC draws its samples from OpenCV's global generator
    homography, inliers = cv2.findHomography(pa, pb, cv2.RANSAC, RANSAC_PIXELS * max(a.shape)
                                             / FLOW_SIDE)
    if homography is None:
        return identity
    count = int(inliers.sum())
    if count < MIN_INLIERS or count < MIN_INLIER_SHARE * len(matches):
        return identity
    return homography


def _apply(homography: np.ndarray, xs: np.ndarray, ys: np.ndarray):
    """Points (xs, ys) mapped by a homography, as float32 coordinate maps."""
    m = homography
    z = m[2, 0] * xs + m[2, 1] * ys + m[2, 2]
    z = np.where(np.abs(z) < 1e-8, 1e-8, z)
    return (((m[0, 0] * xs + m[0, 1] * ys + m[0, 2]) / z).astype(np.float32),
            ((m[1, 0] * xs + m[1, 1] * ys + m[1, 2]) / z).astype(np.float32))


def _trust(a: np.ndarray, b: np.ndarray, there: np.ndarray, back: np.ndarray
           ) -> tuple[np.ndarray, float]:
    """Per pixel of a, how far to trust `there` (a -> b), 0 .. 1, smoothed; and the share
    of a's textured area that corresponds (its texture-weighted mean before smoothing)."""
    import cv2

    h, w = a.shape
    side = max(h, w)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    mx, my = xs + there[..., 0], ys + there[..., 1]
    returned = cv2.remap(back, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    round_trip = np.linalg.norm(there + returned, axis=-1) / (ROUND_TRIP * side)
    seen = cv2.remap(b, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    correlation, texture = _local_correlation(a.astype(np.float32), seen.astype(np.float32),
                                              window=max(3, round(NCC_WINDOW * side) | 1))
    alike = np.where(texture < FLAT, 1.0, _ramp(correlation, *NCC_TRUSTED))
    trust = (np.exp(-round_trip ** 2) * alike).astype(np.float32)
    # A match beyond b's edge cannot be judged (b never saw it): it gets the trust of the
    # matches around it that can.
    inside = ((mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)).astype(np.float32)
    weight = np.minimum(texture, 4 * FLAT) * inside  # textured areas count, barely their degree
    share = float((trust * weight).sum() / max(weight.sum(), 1e-6))
    wide = _blur(trust * inside, 4 * SMOOTHING * side) / np.maximum(
        _blur(inside, 4 * SMOOTHING * side), 1e-6)
    trust = np.where(inside > 0, trust, np.minimum(wide, 1.0))
    smooth = _blur(trust, SMOOTHING * side)
    return smooth, share


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(x.astype(np.float32), (0, 0), sigma,
                            borderType=cv2.BORDER_REPLICATE)


def _local_correlation(a: np.ndarray, b: np.ndarray, *, window: int):
    """Normalised cross-correlation of a and b in a window around each pixel, and the
    texture there (the geometric mean of the two windows' standard deviations)."""
    import cv2

    def mean(x):
        return cv2.blur(x, (window, window), borderType=cv2.BORDER_REFLECT)

    ma, mb = mean(a), mean(b)
    var_a = np.maximum(mean(a * a) - ma * ma, 0.0)
    var_b = np.maximum(mean(b * b) - mb * mb, 0.0)
    texture = np.sqrt(np.sqrt(var_a * var_b))
    correlation = (mean(a * b) - ma * mb) / np.maximum(texture * texture, 1e-6)
    return correlation, texture


def _ramp(x, low: float, high: float):
    """0 below low, 1 above high, smoothstep between."""
    t = np.clip((np.asarray(x, dtype=np.float32) - low) / (high - low), 0.0, 1.0)
    return t * t * (3 - 2 * t)
