"""The `vector` family: the classic conv-VAE with a dense bottleneck to D numbers."""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from latentfx.models.base import VAE
from latentfx.models.blocks import DecoderTrunk, EncoderTrunk
from latentfx.models.config import ModelConfig
from latentfx.models.posterior import DiagonalGaussian


# --- settling: latents carried onto the picture manifold -------------------------------------
# A draw of the fitted prior, or a point on the line between two pictures, can lie where no
# training picture was encoded: the decoder draws a blend there (a ghost of two shapes, a faint
# or half-formed one). The encoder was trained only on real pictures, so the posterior mean of
# such a blend lies nearer to a picture the model knows; decoding and encoding again a few
# times walks z to a latent that is the encoding of its own picture, a fixed point of the
# round trip (the encode-decode Markov chain of Rezende, Mohamed & Wierstra, "Stochastic
# backpropagation", 2014, and of denoising autoencoders as generators, Bengio et al., 2013;
# here its deterministic form, on the means). Measured with the judge of benchmarks/meaning.py
# on 150 midpoints between unseen items: line midpoints read as one clean picture 23% -> 85%
# (shapes) and 20% -> 52% (glyphs) after 4 rounds, with no gain past 4; of 300 data-prior
# draws 63% -> 84% and 60% -> 71%, and with a guided model's decisive choice among settled
# draws 95% and 96%.
# A guided model also moves each round's latent a little away from its read-out's decision
# planes (`sharpened`), towards a picture it can name. In benchmarks/meaning.py (600 items):
# glyph midpoints along the data 51% -> 68% clean, shapes' 81% -> 82%; samples confident 94% ->
# 97% (glyphs), 96% -> 93% (shapes). A rate of 0.5 instead of 0.2 gave shapes 80% / 92%, no
# better on glyphs; 50 steps instead of 20 overshot on shapes.
SETTLE = 4  # rounds
SETTLE_BATCH = 256  # latents decoded at once: a sample of thousands stays in memory


class VectorVAE(VAE):
    is_generator = True  # a draw of the D numbers is a whole picture

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.grid = config.image_size // config.factor  # side of the last feature map
        d = config.latent_dim
        enc_flat = config.widths[-1] * self.grid * self.grid
        dec_flat = config.dec_widths[-1] * self.grid * self.grid
        self.encoder = EncoderTrunk(config.widths, config.blocks)
        self.to_moments = nn.Linear(enc_flat, 2 * d)
        # BN-VAE (Zhu et al., "A Batch Normalized Inference Network Keeps the KL Vanishing
        # Away", 2020): the means of each batch are standardised per dimension, with no
        # learned scale, so the encoded means have mean 0 and spread 1 in every dimension by
        # construction: the aggregate posterior matches N(0, I) in its first two moments and
        # no dimension collapses. The KL weight then only sets the posterior noise. Inference
        # uses the running statistics, as any batch norm does.
        self.mean_norm = nn.BatchNorm1d(d, affine=False) if config.normalize_means else None
        self.from_latent = nn.Linear(d, dec_flat)
        self.decoder = DecoderTrunk(config.dec_widths, config.dec_blocks)
        # Training only: reads the guide labels from the means (LabelHead, below).
        # Made last, so the other layers start from the weights an unguided run gives them.
        self.label_head = LabelHead(d, len(config.guide_labels)) if config.guide_labels else None

    @property
    def native_size(self) -> tuple[int, int]:
        return (self.config.image_size, self.config.image_size)

    def latent_shape(self, height: int, width: int) -> tuple[int, ...]:
        self._check_size(height, width)
        return (self.config.latent_dim,)

    def picture_size(self, latent_shape: tuple[int, ...]) -> tuple[int, int]:
        return self.native_size

    def fit_latent(self, z: torch.Tensor, height: int, width: int) -> torch.Tensor:
        # Every picture is seen at the native size, so a latent stands for any size as it is.
        return z

    def _check_size(self, height: int, width: int) -> None:
        s = self.config.image_size
        if (height, width) != (s, s):
            raise ValueError(
                f"this vector model works at {s}x{s} only, got {width}x{height}; "
                f"resize the image first (or use a spatial model for arbitrary sizes)"
            )

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        self._check_size(*x.shape[-2:])
        h = F.silu(self.encoder(x)).flatten(1)  # (B, C * g * g)
        mean, logvar = self.to_moments(h).chunk(2, dim=1)  # (B, D) x2
        if self.mean_norm is not None:
            mean = self.mean_norm(mean)
        return DiagonalGaussian(mean, logvar)

    def decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        h = self.from_latent(z)  # (B, C * g * g)
        h = h.view(z.shape[0], self.config.dec_widths[-1], self.grid, self.grid)
        return self.decoder(h)  # (B, 3, S, S)

    def settled(self, z: torch.Tensor, rounds: int = SETTLE) -> torch.Tensor:
        """z carried onto the pictures the model draws: `rounds` times, z <- the posterior
        mean of the picture z decodes to (see SETTLE). Same shape and device."""
        with torch.no_grad():
            return torch.cat([self._round_trips(part, rounds) for part in z.split(SETTLE_BATCH)])

    def _round_trips(self, z: torch.Tensor, rounds: int) -> torch.Tensor:
        for _ in range(rounds):
            z = self.encode(self.decode(z)).mode()
            if self.label_head is not None:
                z = sharpened(self.label_head, z)
        return z

    def _data_draws(self, n: int, *, generator, temperature: float) -> torch.Tensor:
        """Draws of the fitted prior, settled; a guided model keeps, of CANDIDATES draws of one
        component per sample, the most decisive once settled (`decisive`)."""
        candidates = 1 if self.label_head is None else CANDIDATES
        z = self.fitted_prior.sample(n, generator=generator, temperature=temperature,
                                     per_component=candidates).to(self.device)
        z = self.settled(z)
        return z if self.label_head is None else decisive(self.label_head, z, n)


# --- label guidance (train --labels) -------------------------------------------------------
# A linear head that must read the training images' 0/1 labels from the posterior means.
#
# An unsupervised VAE spends its few latent numbers on what costs the most pixels (position,
# size, background), and lays a discrete factor such as a shape's kind along a curved, tangled
# set; the centroid of the squares minus that of the rest then points nowhere in particular.
# Asking a linear read-out to find every label in the means makes each label a direction of
# the latent space, with the classes on either side of a plane (the idea of the "guided" and
# semi-supervised VAEs: Kingma et al. 2014, Ding et al. 2020). The head's weights have a fixed
# length (`SCALE`), so it cannot sharpen its logits by growing: a confident read-out needs the
# classes a margin apart in units of the prior's spread, which is what keeps a sample of the
# prior or a point between two images inside one class rather than between two.
#
# The head travels with the checkpoint (its config names the labels, `latentfx info` lists
# them). Besides training, it serves one purpose: a draw from the fitted prior can land between
# two classes, where the decoder draws a blend; `decisive` keeps, of CANDIDATES settled draws,
# the one the head reads most decisively (the truncation trick of GAN sampling, by the model's
# own read-out of its labels rather than by the norm of the latent). Settled first: the head is
# linear and reads a raw draw's position, not what the decoder draws there (raw draws chosen
# so fell from 63% to 52% confident on shapes).

SCALE = 4.0  # logit per unit of latent spread along a label's direction
# Settled prior draws per sample that `decisive` chooses from, all of one mixture component:
# chosen among any draws, the classes the head is least sure of became rare (red shapes 15% of
# samples -> 3%, italic letters 45% -> 21%); within a component, the mixture's proportions
# stay those of the data.
CANDIDATES = 8


class LabelHead(nn.Module):
    def __init__(self, latent_dim: int, labels: int):
        super().__init__()
        self.direction = nn.Parameter(torch.randn(labels, latent_dim) / latent_dim ** 0.5)
        self.bias = nn.Parameter(torch.zeros(labels))

    def units(self, like: torch.Tensor) -> torch.Tensor:
        """(L, D) each label's direction at unit length, in `like`'s dtype and on its device."""
        return F.normalize(self.direction, dim=1).to(like)

    def forward(self, mean: torch.Tensor) -> torch.Tensor:
        """(B, D) posterior means -> (B, L) logits, in the means' dtype and on their device."""
        return SCALE * mean @ self.units(mean).t() + self.bias.to(mean)


def label_loss(head: LabelHead, mean: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of every label, summed over the labels, averaged over the batch:
    each label pulls with the same weight however many there are."""
    logits = head(mean.float())
    return F.binary_cross_entropy_with_logits(logits, labels.float(), reduction="none") \
        .sum(1).mean()


def decisive(head: LabelHead, z: torch.Tensor, n: int) -> torch.Tensor:
    """(n * k, D) candidate latents, k per sample in a row -> (n, D): of each sample's k, the
    one whose labels the head reads with the least binary entropy. A pure function of the
    candidates (so of their generator's seed: `seed:N` stays one latent)."""
    with torch.no_grad():
        entropy = label_entropy(head, z.to(head.bias.device)).reshape(n, -1)
    best = entropy.argmin(1).to(z.device)
    return z.reshape(n, entropy.shape[1], -1)[torch.arange(n, device=z.device), best]


def label_entropy(head: LabelHead, z: torch.Tensor) -> torch.Tensor:
    """(N, D) latents -> (N,) the binary entropy of every label the head reads there, summed
    (nats): 0 where it is sure of each, ln 2 per label it cannot tell. Differentiable, in the
    latents' dtype and on their device."""
    logits = head(z)
    p = torch.sigmoid(logits)
    # -p log p - (1-p) log(1-p), written with softplus so that it is finite for any logit
    return (F.softplus(logits) - p * logits).sum(1)


SHARPEN_STEPS, SHARPEN_RATE = 20, 0.2  # per settling round (see SETTLE)


def sharpened(head: LabelHead, z: torch.Tensor, *, steps: int = SHARPEN_STEPS,
              rate: float = SHARPEN_RATE) -> torch.Tensor:
    """(N, D) latents moved by `steps` gradient steps down label_entropy. The head is linear,
    so the gradient is written out (d entropy / d logit = -logit p (1 - p), d logit / dz =
    SCALE unit): no autograd, which inference mode (where walks and samples run) refuses."""
    unit = head.units(z)
    for _ in range(steps):
        logits = head(z)
        p = torch.sigmoid(logits)
        z = z + rate * SCALE * (logits * p * (1 - p)) @ unit
    return z
