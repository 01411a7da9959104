"""A prior fitted to the data: a Gaussian mixture over the encoded means of the training
images (ex-post density estimation: Ghosh, Sajjadi, Vergari, Black & Schölkopf, "From
Variational to Deterministic Autoencoders", ICLR 2020).

A VAE's aggregate posterior rarely fills N(0, I): the encoded data sits off-centre, stretched
along some directions and empty in others, so N(0, I) draws land where no training image is
and decode to nonsense. A density fitted to where the data actually is draws latents the
decoder has learnt to draw.

Full covariances, because the encoded dimensions are correlated (that is part of how the
aggregate posterior misses N(0, I)), and a diagonal mixture needs many more components to
follow a tilted cloud; vector latents are small enough (D of 8 to 128) for D x D matrices.
The number of components is the candidate whose fit on 80% of the latents gives the highest
log-likelihood to the other 20% (then refitted on all of them): the density that best
predicts latents it was not fitted to. BIC, tried first, charges every one of a component's
D(D+1)/2 covariance numbers and stopped at 8 components on the glyphs model's 32-d latents,
where held-out likelihood peaks near 24 and the share of samples a letter classifier reads
confidently rose from 18% to 26%; more components than that start to memorise the training
images (held-out likelihood falls) while samples look better still, which is why the choice
is left to the held-out data. Every fit uses a fixed random_state, so the same latents give
the same prior.

Stored as tensors (weights, means, Cholesky factors of the covariances) in the checkpoint;
sampling is a pure function of a CPU torch.Generator: the component first, then
mean + L @ (T * eps), so a seed gives the same latent on every device.
"""

from __future__ import annotations

import math

from dataclasses import dataclass

import torch

KIND = "gaussian-mixture"
COVARIANCE = "full"
CANDIDATES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)  # Ghosh et al. 2020 fit 10
MIN_IMAGES_PER_COMPONENT = 10  # fewer cannot pin down a component's mean and covariance
VALIDATION_SHARE = 0.2       # of the latents, held out to choose the number of components
PATIENCE = 2                 # candidates tried past the best before the search stops
MAX_FIT_LATENTS = 20_000     # a larger set is subsampled (with a fixed seed) for the fit
REACH_SPREAD = 2.0  # standard deviations: reach_along's reach past each component's mean
REG_COVAR = 1e-4             # added to the diagonals: latents have unit scale, so this is tiny
RANDOM_STATE = 0
TENSOR_PREFIX = "prior."


@dataclass(frozen=True)
class GaussianMixturePrior:
    weights: torch.Tensor     # (K,) float32, summing to 1
    means: torch.Tensor       # (K, D)
    scale_tril: torch.Tensor  # (K, D, D) lower Cholesky factors of the covariances
    images: int               # how many encoded images it was fitted to
    source: str = ""          # what they were: "training images", a folder, a store

    @property
    def components(self) -> int:
        return int(self.weights.shape[0])

    @property
    def dims(self) -> int:
        return int(self.means.shape[1])

    @property
    def typical_length(self) -> float:
        """The root mean square length of the mixture's draws, sqrt(E |z|^2): the radius of
        the shell where the encoded data lies."""
        spread = self.scale_tril.double().pow(2).sum(dim=(1, 2))  # (K,) trace of each covariance
        second = self.means.double().pow(2).sum(1) + spread
        return float((self.weights.double() * second).sum().sqrt())

    def reach_along(self, unit: torch.Tensor, *, below: float = REACH_SPREAD,
                    above: float = REACH_SPREAD) -> tuple[float, float]:
        """(lowest, highest) reading z . unit the mixture reaches: over its components, the
        mean's reading less `below` and plus `above` standard deviations along `unit` ((D,),
        unit length)."""
        readings, variances = self._along(unit)
        deviations = variances.sqrt()
        return (float((readings - below * deviations).min()),
                float((readings + above * deviations).max()))

    def between_share(self, unit: torch.Tensor) -> float:
        """Of the data's variance along `unit` ((D,), unit length), the share that lies between
        the components' means rather than within them: near 1 where each component holds one
        side of an attribute (the shapes model's components are each one kind), low where the
        components mix both sides (bold and regular letters in one component)."""
        readings, within = self._along(unit)
        weights = self.weights.double()
        centred = readings - (weights * readings).sum()  # no cancellation far off-centre
        between = (weights * centred.pow(2)).sum()
        total = between + (weights * within).sum()
        return float(between / total) if total > 0 else 0.0

    def _along(self, unit: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(D,) unit direction -> (K,) each component's mean reading along it and (K,) its
        variance along it (u' C u), float64 on the CPU."""
        unit = unit.detach().double().cpu().reshape(-1)
        readings = self.means.double() @ unit
        variances = (self.scale_tril.double().transpose(1, 2) @ unit).pow(2).sum(1)
        return readings, variances

    # -- fitting ----------------------------------------------------------------------------

    @classmethod
    def fit(cls, latents: torch.Tensor, *, components: int | None = None,
            source: str = "") -> "GaussianMixturePrior":
        """Fit to (N, D) encoded means. `components`: how many (default: the candidate the
        held-out latents like best, among those the data can support)."""
        x = _fitting_set(latents.detach().double().cpu()).numpy()
        mixture = _fit_mixture(x, components or chosen_components(x))
        covariances = torch.from_numpy(mixture.covariances_)  # (K, D, D) float64
        return cls(weights=torch.from_numpy(mixture.weights_).float(),
                   means=torch.from_numpy(mixture.means_).float(),
                   scale_tril=torch.linalg.cholesky(covariances).float(),
                   images=int(latents.shape[0]), source=source)

    # -- drawing and scoring ----------------------------------------------------------------

    def sample(self, n: int, *, generator: torch.Generator | None = None,
               temperature: float = 1.0, per_component: int = 1) -> torch.Tensor:
        """(n * per_component, D) latents, on the CPU: n components chosen, then
        `per_component` draws of each, in a row. Components are chosen first, then the noise
        drawn: a pure function of the generator's state. `temperature` scales the noise
        within the chosen component (T -> 0 gives its mean)."""
        picks = torch.multinomial(self.weights, n, replacement=True, generator=generator)  # (n,)
        picks = picks.repeat_interleave(per_component)
        eps = torch.randn((len(picks), self.dims), generator=generator)  # (n * k, D)
        offsets = (self.scale_tril[picks] @ eps.unsqueeze(-1)).squeeze(-1)  # (n, D)
        return self.means[picks] + temperature * offsets

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """(n, D) latents -> (n,) log density under the mixture (nats), float64 on the CPU;
        differentiable in z."""
        return torch.logsumexp(self._joint_log_probs(z), dim=0)

    def cluster_mean(self, z: torch.Tensor) -> torch.Tensor:
        """(n, D) latents -> (n, D) the mean of the components that claim each, weighted by
        their responsibilities (so it changes smoothly with z); same dtype and device."""
        responsibilities = torch.softmax(self._joint_log_probs(z), dim=0)  # (K, n)
        return (responsibilities.t() @ self.means.double()).to(z)

    def pulled(self, z: torch.Tensor, share: float) -> torch.Tensor:
        """(n, D) latents moved `share` of the way to their cluster_mean; same dtype and
        device."""
        return z + share * (self.cluster_mean(z) - z)

    def _joint_log_probs(self, z: torch.Tensor) -> torch.Tensor:
        """(n, D) -> (K, n) log of weight_k N(z; mean_k, cov_k), float64 on the CPU."""
        z = z.double().cpu()
        tril = self.scale_tril.double()  # (K, D, D)
        diff = z[None] - self.means.double()[:, None]  # (K, n, D)
        # L^-1 (z - mean) per component: the Mahalanobis distance without forming inverses.
        white = torch.linalg.solve_triangular(tril, diff.transpose(1, 2), upper=False)
        log_det = tril.diagonal(dim1=1, dim2=2).log().sum(1)  # (K,) = log |L| = 0.5 log |cov|
        per_component = (-0.5 * white.pow(2).sum(1) - log_det[:, None]
                         - 0.5 * self.dims * math.log(2 * math.pi))  # (K, n)
        return per_component + self.weights.double().log()[:, None]

    # -- in a checkpoint --------------------------------------------------------------------

    def tensors(self) -> dict[str, torch.Tensor]:
        return {TENSOR_PREFIX + "weights": self.weights, TENSOR_PREFIX + "means": self.means,
                TENSOR_PREFIX + "scale_tril": self.scale_tril}

    def describe(self) -> dict:
        """The metadata kept beside the tensors."""
        return {"kind": KIND, "covariance": COVARIANCE, "components": self.components,
                "dims": self.dims, "images": self.images, "source": self.source,
                "random_state": RANDOM_STATE}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], meta: dict) -> "GaussianMixturePrior":
        """The prior kept in a checkpoint; ValueError when its parts do not fit together."""
        if meta.get("kind") != KIND:
            raise ValueError(f"unknown prior kind {meta.get('kind')!r}")
        try:
            weights, means, scale_tril = (tensors[TENSOR_PREFIX + k].float()
                                          for k in ("weights", "means", "scale_tril"))
        except KeyError as exc:
            raise ValueError(f"its prior lacks the tensor {exc}") from None
        k, d = means.shape
        if weights.shape != (k,) or scale_tril.shape != (k, d, d):
            raise ValueError(f"prior tensors of shapes {tuple(weights.shape)}, "
                             f"{tuple(means.shape)}, {tuple(scale_tril.shape)} do not fit")
        return cls(weights=weights, means=means, scale_tril=scale_tril,
                   images=int(meta.get("images", 0)), source=str(meta.get("source", "")))


def summary(meta: dict) -> str:
    """One line about a fitted prior, from its describe() metadata."""
    where = f" ({meta['source']})" if meta.get("source") else ""
    return (f"{meta['kind']} of {meta['components']} {meta['covariance']}-covariance "
            f"component(s) over {meta['dims']} dimensions, fitted to {meta['images']} encoded "
            f"images{where}")


def candidate_counts(n: int) -> list[int]:
    """The component counts chosen among for n latents: each component needs at least
    MIN_IMAGES_PER_COMPONENT of those it is fitted to (the 80% not held out)."""
    fitted = n - int(n * VALIDATION_SHARE)
    return [k for k in CANDIDATES if k * MIN_IMAGES_PER_COMPONENT <= fitted] or [1]


def chosen_components(x) -> int:
    """The candidate count whose mixture, fitted to a seeded 80% of the rows of x (N, D),
    gives the rest the highest mean log-likelihood. Candidates rise until PATIENCE of them
    in a row have not beaten the best (held-out likelihood rises, peaks and falls)."""
    import numpy as np

    candidates = candidate_counts(len(x))
    if len(candidates) == 1:
        return candidates[0]
    order = np.random.default_rng(RANDOM_STATE).permutation(len(x))
    held = max(1, int(len(x) * VALIDATION_SHARE))
    fit_rows, held_rows = x[order[held:]], x[order[:held]]
    best, best_score, worse = 1, -float("inf"), 0
    for k in candidates:
        score = _fit_mixture(fit_rows, k).score(held_rows)
        if score > best_score:
            best, best_score, worse = k, score, 0
        else:
            worse += 1
            if worse >= PATIENCE:
                break
    return best


def has_prior_tensors(names) -> bool:
    return any(str(name).startswith(TENSOR_PREFIX) for name in names)


def _fitting_set(latents: torch.Tensor) -> torch.Tensor:
    """At most MAX_FIT_LATENTS rows: a seeded subsample keeps a large set's fit quick."""
    if len(latents) <= MAX_FIT_LATENTS:
        return latents
    g = torch.Generator().manual_seed(RANDOM_STATE)
    return latents[torch.randperm(len(latents), generator=g)[:MAX_FIT_LATENTS]]


def _fit_mixture(x, components: int):
    from sklearn.mixture import GaussianMixture

    return GaussianMixture(n_components=components, covariance_type=COVARIANCE,
                           reg_covar=REG_COVAR, max_iter=200, n_init=1,
                           random_state=RANDOM_STATE).fit(x)
