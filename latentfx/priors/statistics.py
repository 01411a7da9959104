"""How a set of encoded images sits against the prior N(0, I): the numbers that say whether
samples from the prior can look like the data.

For a prior to mean anything, the encoded means of the data should have, per dimension, a
mean near 0 and a spread near 1, and their mean length should be near sqrt(D) (what N(0, I)
draws have). The KL per dimension says which dimensions carry information; a dimension is
*active* when its encoded mean varies over the data, Var_x(E_q(z|x)[z_d]) > 0.01 (Burda,
Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016); the others are left
at the prior and decode to nothing.

Spatial latents (B, C, H, W) are summarised per channel, with every latent pixel of every
image a sample (the KL is then per latent pixel): their prior is the same N(0, I_C) at each
position, so this is the form in which "matches the prior" can be checked, and it does not
depend on the image size the statistics were taken at (a flattened C*H*W vector would).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

ACTIVE_VARIANCE = 0.01  # Burda et al. 2016: the variance over the data of a dimension's mean
DECIMALS = 4            # stored in the checkpoint's JSON header: enough to read, not noise


@dataclass(frozen=True)
class LatentStatistics:
    images: int              # how many images the numbers were measured on
    unit: str                # "dimension" (vector latents) or "channel" (spatial, per position)
    dims: int                # D, or C for spatial latents
    mean: list[float]        # per dimension: mean over the data of the encoded means
    std: list[float]         # per dimension: their spread (standard deviation)
    mean_length: float       # mean of ||mu|| (per image; per latent pixel for spatial)
    active: int              # dimensions with Var_x(mu_d) > ACTIVE_VARIANCE
    kl: list[float] | None   # per dimension, nats averaged over the data (None: means only)

    @property
    def prior_length(self) -> float:
        """sqrt(D): about the length of a draw from N(0, I_D)."""
        return math.sqrt(self.dims)

    @property
    def length_ratio(self) -> float:
        return self.mean_length / self.prior_length

    def to_dict(self) -> dict:
        return {**asdict(self), "prior_length": round(self.prior_length, DECIMALS),
                "length_ratio": round(self.length_ratio, DECIMALS),
                "kl_total": None if self.kl is None else round(sum(self.kl), DECIMALS),
                "active_threshold": ACTIVE_VARIANCE}

    @classmethod
    def from_dict(cls, data: dict) -> "LatentStatistics":
        return cls(**{k: data[k] for k in ("images", "unit", "dims", "mean", "std",
                                           "mean_length", "active", "kl")})


def latent_statistics(mean, logvar=None) -> LatentStatistics:
    """Statistics of posteriors N(mean, exp(logvar)), (N, D) or (N, C, H, W) tensors. Without
    `logvar` (a latent store keeps means only) the KL is not known."""
    import torch

    mu = _as_samples(mean).double()  # (S, D)
    variance = mu.var(dim=0, correction=0)  # (D,)
    kl = None
    if logvar is not None:
        lv = _as_samples(logvar).double()
        kl = (0.5 * (mu.pow(2) + lv.exp() - 1.0 - lv)).mean(dim=0).tolist()  # (D,)
    return LatentStatistics(
        images=int(mean.shape[0]), unit="dimension" if mean.dim() == 2 else "channel",
        dims=int(mu.shape[1]), mean=_rounded(mu.mean(dim=0).tolist()),
        std=_rounded(variance.sqrt().tolist()),
        mean_length=round(float(torch.linalg.vector_norm(mu, dim=1).mean()), DECIMALS),
        active=int((variance > ACTIVE_VARIANCE).sum()), kl=None if kl is None else _rounded(kl))


def _as_samples(latents):
    """(N, D) as it is; (N, C, H, W) -> (N * H * W, C): one sample per latent pixel."""
    if latents.dim() == 2:
        return latents
    return latents.movedim(1, -1).reshape(-1, latents.shape[1])


def _rounded(values: list[float]) -> list[float]:
    return [round(v, DECIMALS) for v in values]


def summary_lines(stats: dict) -> list[tuple[str, str]]:
    """(label, text) rows that say how the encoded data sits against N(0, I), from
    LatentStatistics.to_dict(): what `latentfx info` and the training report print."""
    s = LatentStatistics.from_dict(stats)
    per = f"per {s.unit}"
    rows = [
        ("measured on", f"{s.images} images, {s.dims} {s.unit}s"
                        + (" (every latent pixel a sample)" if s.unit == "channel" else "")),
        ("means", f"{per} {min(s.mean):+.2f} .. {max(s.mean):+.2f}, mean |m| "
                  f"{_mean(abs(m) for m in s.mean):.2f} (prior: 0)"),
        ("spread", f"std of the means {per} {min(s.std):.2f} .. {max(s.std):.2f}, mean "
                   f"{_mean(s.std):.2f} (prior: 1)"),
        ("length", f"mean |mu| {s.mean_length:.2f} vs sqrt({s.dims}) = {s.prior_length:.2f} "
                   f"({s.length_ratio:.2f}x)"),
        ("active", f"{s.active} of {s.dims} {s.unit}s (Var(mu) > {ACTIVE_VARIANCE})"),
    ]
    if s.kl is not None:
        rows.append(("kl", f"{sum(s.kl):.2f} nats in all, {per} {min(s.kl):.2f} .. "
                           f"{max(s.kl):.2f}"))
    else:
        rows.append(("kl", "not known (measured from stored means only)"))
    return rows


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)
