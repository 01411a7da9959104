"""Whitening pooled features over the store they are compared in.

Pooled statistics are correlated and of very different spreads: a few directions (overall
brightness, say) hold most of the variance and swamp the others in a euclidean distance,
though what tells pictures apart (which shape, which stroke) often lies along a direction of
small variance. Whitening gives every direction of the store the same spread, so distances
count how unusual a difference is for this collection (a Mahalanobis distance).

Plain PCA whitening breaks down on small stores: with fewer pictures than dimensions, the
directions the sample did not span get an infinite weight and all pairs end up equally far
apart. The covariance here is the Ledoit-Wolf estimate (Ledoit and Wolf 2004), shrunk towards
a scaled identity by as much as the sample size calls for, of the features standardised per
dimension first: close to plain whitening for a large store, close to standardising alone
for a small one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_SPREAD = 1e-6   # a feature constant over the store is left unscaled, not blown up
MIN_SAMPLES = 3     # fewer: standardised only (a covariance needs more than two points)


@dataclass(frozen=True)
class Whitening:
    mean: np.ndarray    # (D,)
    scale: np.ndarray   # (D,)
    basis: np.ndarray   # (D, D): standardised features -> whitened coordinates

    @classmethod
    def fit(cls, features: np.ndarray) -> "Whitening":
        from sklearn.covariance import ledoit_wolf

        x = np.asarray(features, dtype=np.float64)
        mean, spread = x.mean(axis=0), x.std(axis=0)
        scale = np.where(spread > MIN_SPREAD, spread, 1.0)
        if len(x) < MIN_SAMPLES:
            return cls(mean, scale, np.eye(x.shape[1]))
        covariance, _ = ledoit_wolf((x - mean) / scale)  # the estimator class: 15x slower
        values, vectors = np.linalg.eigh(covariance)
        floor = max(float(values.max()), 1.0) * 1e-9   # all-constant features: no 0 division
        return cls(mean, scale, vectors / np.sqrt(np.maximum(values, floor)))

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """(N, D) features -> (N, D) float32 whitened coordinates."""
        z = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
        return (z @ self.basis).astype(np.float32)
