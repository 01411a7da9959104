"""The configuration that rebuilds a model. It travels inside every checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from latentfx.options import FAMILIES


FAMILY_ONLY = {"latent_dim": "vector", "latent_channels": "spatial",
               "normalize_means": "vector", "guide_labels": "vector"}  # field -> the family using it


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a conv-VAE.

    Both families share the convolutional trunk: a pixel-unshuffle stem (2x2 pixels become 12
    channels, so no layer ever runs at full resolution), then one level per entry of `widths`,
    each with `blocks` residual blocks and a 2x downsampling between levels. The total
    downsampling factor is therefore f = 2 ** len(widths).

    vector:  the last level is flattened and mapped by dense layers to `latent_dim` numbers;
             the model works at exactly `image_size` x `image_size`. `normalize_means`
             batch-normalises the posterior means (no learned scale; see VectorVAE).
             `guide_labels` names the 0/1 labels a linear head reads from the posterior
             means during training (latentfx/models/vector.py); () for none.
    spatial: a 3x3 conv maps the last level to `latent_channels`; the latent is an image of
             shape (latent_channels, H/f, W/f) and any input size works.
    """

    family: str = "spatial"
    image_size: int = 64  # vector: the one size it accepts; spatial: the training crop size
    widths: tuple[int, ...] = (32, 64)
    blocks: int = 1
    latent_dim: int = 32  # vector only
    latent_channels: int = 4  # spatial only
    decoder_widths: tuple[int, ...] | None = None  # None: mirror `widths`
    decoder_blocks: int | None = None  # None: same as `blocks`
    normalize_means: bool = False  # vector only; False keeps models trained before it as they were
    guide_labels: tuple[str, ...] = ()  # vector only: labels the latent is guided to separate

    def __post_init__(self):
        # Coerce lists (from JSON) to tuples so configs compare and hash reliably.
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        object.__setattr__(self, "guide_labels", tuple(str(n) for n in self.guide_labels))
        if self.decoder_widths is not None:
            object.__setattr__(self, "decoder_widths", tuple(int(w) for w in self.decoder_widths))
        self.validate()

    @property
    def latent_is_picture(self) -> bool:
        """Whether a latent is a small picture (C, H/f, W/f) whose content can be moved
        place by place (a morph warps it), rather than D numbers for the whole image."""
        return self.family == "spatial"

    @property
    def factor(self) -> int:
        """Spatial downsampling factor between image and latent."""
        return 2 ** len(self.widths)

    @property
    def dec_widths(self) -> tuple[int, ...]:
        return self.decoder_widths if self.decoder_widths is not None else self.widths

    @property
    def dec_blocks(self) -> int:
        return self.decoder_blocks if self.decoder_blocks is not None else self.blocks

    def validate(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {self.family!r}")
        if not self.widths or any(w <= 0 for w in self.widths):
            raise ValueError(f"widths must be positive channel counts, got {self.widths}")
        if len(self.dec_widths) != len(self.widths):
            raise ValueError(
                f"decoder_widths {self.dec_widths} must have as many levels as widths {self.widths}"
            )
        if self.blocks < 0 or self.dec_blocks < 0:
            raise ValueError("blocks must be >= 0")
        if self.family == "vector":
            if self.latent_dim <= 0:
                raise ValueError(f"latent_dim must be positive, got {self.latent_dim}")
            if self.image_size <= 0 or self.image_size % self.factor:
                raise ValueError(
                    f"a vector model with {len(self.widths)} levels needs an image size that is a "
                    f"multiple of {self.factor}; got {self.image_size}"
                )
        elif self.guide_labels:
            raise ValueError("label guidance is for vector models (their latent is the whole "
                             "picture's D numbers)")
        elif self.latent_channels <= 0:
            raise ValueError(f"latent_channels must be positive, got {self.latent_channels}")

    def meaningful_fields(self) -> dict:
        """to_dict() without what this family ignores and without the options left unset
        (None), as a description shows the config."""
        return {k: v for k, v in self.to_dict().items()
                if FAMILY_ONLY.get(k, self.family) == self.family and v is not None}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        if self.guide_labels:
            d["guide_labels"] = list(self.guide_labels)
        else:
            del d["guide_labels"]  # an unguided model's config reads as it did before guidance
        if self.decoder_widths is not None:
            d["decoder_widths"] = list(self.decoder_widths)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**d)
