"""fit-prior: a model trained before latentfx fitted priors -> a copy of it that carries one.

Steps: check the spec; load the model; get the encoded data (encode a folder of its training
images, or read a latent store made with it); measure the latent statistics and fit the
Gaussian mixture to the encoded means (latentfx/priors/); write the copy. Its weights are
the model's own, but it is a new file, hence a new model id: outputs made with the original
keep pointing at the original.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from latentfx.errors import InputError, Skipped
from latentfx.options import INFERENCE_FITS
from pipelines.specs import Spec, input_path, output_path


@dataclass
class FitPriorSpec(Spec):
    model: str                                # the checkpoint (or bundled name) to copy
    output: str = output_path()               # the new checkpoint
    folder: str | None = input_path(None)     # images to encode (its training images) ...
    store: str | None = input_path(None)      # ... or a latent store made with the model
    components: int | None = None             # default: chosen on held-out latents
    fit: str = "center-crop"                  # how folder images are fitted to the model
    batch: int = 64
    device: str = "auto"

    def validate(self) -> None:
        from latentfx.io.outputs import check_output_file
        from latentfx.models.bundled import resolve_model

        if (self.folder is None) == (self.store is None):
            raise InputError("give the encoded data as --folder DIR (images) or --store "
                             "STORE.safetensors (a latent store made with this model), one "
                             "of them")
        if self.fit not in INFERENCE_FITS:
            raise InputError(f"--fit must be one of {', '.join(INFERENCE_FITS)}, got {self.fit!r}")
        if self.components is not None and self.components < 1:
            raise InputError(f"--components must be at least 1, got {self.components}")
        if self.batch < 1:
            raise InputError(f"--batch must be at least 1, got {self.batch}")
        output = check_output_file(self.output, suffixes={".safetensors": "safetensors"})
        if output.resolve() == resolve_model(self.model).resolve():
            raise InputError(f"-o {self.output}: that is the model itself; fit-prior writes a "
                             f"new file (a new model id), so give another name")


@dataclass
class FitPriorResult:
    output: Path
    model_id: str          # the new file's
    source_model_id: str   # the model it copies
    images: int            # encoded images the prior was fitted to
    latent_stats: dict
    prior: dict
    skipped: list[Skipped] = field(default_factory=list)


def run(spec: FitPriorSpec, *, progress: Callable[[int, int, str], None] | None = None,
        cancel: Callable[[], bool] | None = None) -> FitPriorResult:
    from latentfx.models.checkpoint import save_checkpoint
    from latentfx.models.loading import load_model

    # 1. Check the request; load the model, which must be one whose prior draws are pictures.
    spec.validate()
    model, info = load_model(spec.model, device=spec.device)
    if not model.is_generator:
        raise InputError(f"{spec.model}: a spatial model is not a generator (its prior draws "
                         f"decode to texture noise), so it gets no fitted prior; fit-prior is "
                         f"for vector models")

    # 2-3. The encoded data (a folder's images through the encoder, or a store's latents),
    #      its statistics and the fitted prior; then the copy that carries them.
    measured, skipped = _measure(spec, model, info, progress=progress)
    stats = measured.statistics.to_dict()
    model_id = save_checkpoint(spec.output, model, training=info.metadata.get("training"),
                               prior=measured.prior, latent_stats=stats)
    return FitPriorResult(Path(spec.output), model_id, info.model_id, measured.prior.images,
                          stats, measured.prior.describe(), skipped)


def _measure(spec: FitPriorSpec, model, info, *, progress=None):
    """(Measurement, skipped files) of the folder's images or the store's latents."""
    from latentfx.priors.measurement import measure
    from latentfx.training.data import TrainingImages, scan_training_files
    from latentfx.training.reports import measure_training_images

    if spec.store is not None:
        from latentfx.latents.stores import LatentStore

        store = LatentStore.load(spec.store)
        store.require_model(info.model_id, store_path=spec.store)
        _check_components(spec, len(store))
        source = f"store {Path(spec.store).name}"
        return measure(model, store.latents.float(), None, source=source,
                       components=spec.components), []
    files = scan_training_files(spec.folder, progress=progress)
    data = TrainingImages(files, size=model.config.image_size, fit=spec.fit, mode="none",
                          seed=0)
    _check_components(spec, len(data))
    measured = measure_training_images(model, data, source=f"folder {Path(spec.folder).name}",
                                       components=spec.components, batch=spec.batch,
                                       progress=progress)
    return measured, files.all_skipped()


def _check_components(spec: FitPriorSpec, count: int) -> None:
    if spec.components is not None and spec.components > count:
        raise InputError(f"--components {spec.components}: more than the {count} encoded "
                         f"images the prior would be fitted to")
