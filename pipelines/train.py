"""train: image folder -> checkpoint (DESIGN §3).

A run folder beside the output (model.safetensors -> model.run/) holds the resumable
checkpoint (weights + optimiser + history), the latest sample grid, reconstruction grid and
loss curve, and the list of skipped files. The output model is refreshed at every save, so
an interrupted run still leaves a usable model.

When the last step is done, every training image is encoded once more: the latent statistics
(how the encoded data sits against N(0, I)) and, for a vector model, a Gaussian mixture
fitted to the encoded means go into the output model (latentfx/priors/), and into the run
folder as latent_stats.json and samples-data.png (draws from the fitted prior).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

from latentfx.errors import InputError, Interrupted
from latentfx.io.outputs import check_output_file
from latentfx.models import ModelConfig
from latentfx.models.defaults import FAMILY_DEFAULTS
from latentfx.options import AUGMENTS, FAMILIES, FIT_POLICIES, PRECISIONS
from pipelines.specs import Spec, input_path, output_path


# The weight of the guide labels' loss against the per-pixel-value MSE: measured on shapes
# and glyphs (benchmarks/meaning.py), strong enough to make each label a direction with a
# margin, weak enough to leave the reconstructions as sharp.
LABEL_WEIGHT = 1e-2

# What may change between the sessions of a run: how it runs, and how long.
RUNTIME_FIELDS = ("steps", "device", "workers", "precision", "compile")
# Given again when resuming (the run keeps the labels, the files are read afresh).
LABEL_FIELDS = ("labels", "folder_labels")


class TrainingInterrupted(Interrupted):
    """Ctrl-C or cancel: a resumable checkpoint was saved."""


@dataclass
class TrainSpec(Spec):
    folder: str = input_path()
    output: str = output_path()
    family: str = "spatial"
    size: int | None = None
    latent: str | None = None  # vector: "D"; spatial: "C:F" (channels : downsampling factor)
    widths: tuple[int, ...] | None = None
    blocks: int = 2
    batch: int = 16
    steps: int | None = None
    epochs: float | None = None
    lr: float = 2e-3
    beta: float | None = None
    kl_warmup: int = 500
    seed: int = 0
    fit: str = "center-crop"
    augment: str = "flip"
    save_every: int = 500
    labels: str | None = input_path(None)  # CSV (a `path` column): its 0/1 columns guide
    folder_labels: bool = False            # or the sub-folder names (latentfx/models/vector.py)
    label_weight: float | None = None      # None: LABEL_WEIGHT when labels are given
    device: str = "auto"
    workers: int | None = None  # decoding processes (None: latentfx.training.data's default)
    precision: str = "auto"  # latentfx.options.PRECISIONS; see latentfx/training/precision.py
    compile: bool = False  # torch.compile the forward pass
    run_dir: str | None = output_path(None)
    resume: bool = False

    def validate(self) -> None:
        if self.family not in FAMILIES:
            raise InputError(f"--family must be one of {', '.join(FAMILIES)}, got {self.family!r}")
        if self.fit not in FIT_POLICIES:
            raise InputError(f"--fit must be one of {', '.join(FIT_POLICIES)}, got {self.fit!r}")
        if self.augment not in AUGMENTS:
            raise InputError(f"--augment must be one of {', '.join(AUGMENTS)}")
        if self.precision not in PRECISIONS:
            raise InputError(f"--precision must be one of {', '.join(PRECISIONS)}, "
                             f"got {self.precision!r}")
        if self.workers is not None and self.workers < 0:
            raise InputError(f"--workers must be 0 or more, got {self.workers}")
        for name in ("batch", "save_every", "blocks"):
            if getattr(self, name) < (0 if name == "blocks" else 1):
                raise InputError(f"--{name.replace('_', '-')} must be positive, "
                                 f"got {getattr(self, name)}")
        if self.steps is not None and self.epochs is not None:
            raise InputError("give --steps or --epochs, not both")
        if (self.steps is not None and self.steps < 1) or (self.epochs is not None and self.epochs <= 0):
            raise InputError("--steps / --epochs must be positive")
        if self.size is not None and self.size < 8:
            raise InputError(f"--size must be at least 8, got {self.size}")
        if self.lr <= 0 or (self.beta is not None and self.beta < 0) or self.kl_warmup < 0:
            raise InputError("--lr must be > 0, --beta and --kl-warmup >= 0")
        self._validate_labels()
        check_output_file(self.output, suffixes={".safetensors": "safetensors"})

    def _validate_labels(self) -> None:
        """The label options, and the table's header and columns (the csv module only: this
        runs before torch is imported). Rows missing for some images are found after the
        folder is scanned."""
        from latentfx.latents.label_tables import check_label_table

        guided = bool(self.labels or self.folder_labels)
        if self.labels and self.folder_labels:
            raise InputError("give --labels or --folder-labels, not both")
        # A resumed run keeps its own family (the CLI refuses --family with --resume).
        if guided and self.family != "vector" and not self.resume:
            raise InputError("--labels / --folder-labels guide a vector model's latent space; "
                             "add --family vector")
        if self.label_weight is not None and (self.label_weight <= 0 or not guided):
            raise InputError(f"--label-weight must be > 0 and goes with --labels or "
                             f"--folder-labels, got {self.label_weight:g}")
        if self.labels:
            check_label_table(self.labels)

    def resume_command(self) -> str:
        """The command line that continues this run (what --resume accepts: the run's own
        settings come from its checkpoint, so only where it is and how it runs are given)."""
        import shlex

        return shlex.join(["latentfx", "train", *self.arguments(RUNTIME_FIELDS + LABEL_FIELDS,
                                                                resume=True)])

    def arguments(self, names, *, resume: bool | None = None) -> list[str]:
        """FOLDER -o OUTPUT and the options for the fields `names` that differ from their
        defaults, as `latentfx train` takes them (a field's option is its name)."""
        import dataclasses

        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        args = [self.folder, "-o", self.output]
        for name in ("run_dir", *names, "resume"):
            value = resume if name == "resume" and resume is not None else getattr(self, name)
            option = "--" + name.replace("_", "-")
            if value == defaults[name]:
                continue
            if isinstance(value, bool):
                args.append(option)
            else:
                text = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
                args += [option, text]
        return args

    def run_path(self) -> Path:
        if self.run_dir:
            return Path(self.run_dir)
        out = Path(self.output)
        return out.with_name(out.name.removesuffix(".safetensors") + ".run")

    def model_config(self) -> ModelConfig:
        defaults = FAMILY_DEFAULTS[self.family]
        size = self.size if self.size is not None else defaults.image_size
        latent = self.latent or defaults.latent
        try:
            return defaults.config(size=size, latent=latent, widths=self.widths,
                                   blocks=self.blocks)
        except ValueError as exc:
            raise InputError(f"bad model settings (--latent {latent!r}, --size {size}): {exc}") from None


@dataclass
class TrainResult:
    output: Path
    model_id: str
    run_dir: Path
    steps: int
    images: int
    skipped: list
    final_psnr: float
    seconds: float
    images_per_second: float
    resumed_from: int = 0
    latent_stats: dict | None = None  # LatentStatistics.to_dict() of the training images
    prior: dict | None = None         # the fitted prior's description (None: not a generator)
    rank: int = 0  # which process of a several-process run this is (0 wrote the run folder)


def run(spec: TrainSpec, *, progress: Callable[[int, int, str], None] | None = None,
        cancel: Callable[[], bool] | None = None) -> TrainResult:
    import torch

    from latentfx.runtime.devices import pick_device
    from latentfx.training.data import TrainingImages, default_workers, scan_training_files
    from latentfx.training.distributed import ranks_from_environment, start, stop, wrap
    from latentfx.training.loop import ForcedStop, train_steps
    from latentfx.training.precision import choose_precision

    # 1. Check the request; find the run and its settings (fresh, or saved when resuming).
    spec.validate()
    ranks = ranks_from_environment()  # several processes when torchrun started this one
    if not ranks.main:
        progress = None  # process 0 shows the run's progress
    device = pick_device(spec.device)
    precision = choose_precision(spec.precision, device)
    run_dir = spec.run_path()
    resumed = _previous_run(spec, run_dir)
    config = resumed.config if resumed else spec.model_config()

    # 2. Check the files (headers, fingerprint); a resumed run must see the same ones.
    files = scan_training_files(spec.folder, progress=progress)
    if resumed:
        _check_same_images(spec, resumed, files)
    options, state = _options_and_state(spec, resumed, len(files.names))
    config, labels = _guide_labels(spec, resumed, config, files.names)
    data = TrainingImages(files, size=config.image_size, fit=options.fit, mode=options.augment,
                          seed=options.seed, labels=labels)

    # 3. Model and optimiser, on the device; with several processes, this one's share.
    device = start(ranks, device, batch=options.batch)
    model, opt = _model_and_optimizer(config, options, resumed, device)
    if ranks.main:  # process 0 alone writes the run folder
        run_dir.mkdir(parents=True, exist_ok=True)
        _write_skipped(run_dir, files.all_skipped())
    forward = wrap(model, ranks, device)

    # 4. Train, saving as we go.
    start_step = state.step
    saver = _Saver(spec, options, model, opt, data, run_dir, writes=ranks.main)
    workers = default_workers() if spec.workers is None else spec.workers
    try:
        state = train_steps(model, opt, data, options, state, device=device, on_save=saver,
                            workers=workers, precision=precision, ranks=ranks,
                            forward=torch.compile(forward) if spec.compile else forward,
                            progress=progress, cancel=cancel)
    except ForcedStop:
        raise TrainingInterrupted(f"stopped at once; the last periodic checkpoint in {run_dir} "
                                  f"stands. Continue with: {spec.resume_command()}") from None
    except KeyboardInterrupt:
        raise TrainingInterrupted(
            f"interrupted at step {state.step}; checkpoint saved in {run_dir}. "
            f"Continue with: {spec.resume_command()}") from None
    finally:
        stop(ranks)
    if state.step < options.steps:
        raise TrainingInterrupted(f"cancelled at step {state.step}; checkpoint saved in "
                                  f"{run_dir}. Continue with: {spec.resume_command()}")
    return TrainResult(output=Path(spec.output), model_id=saver.model_id, run_dir=run_dir,
                       steps=state.step, images=len(files.names), skipped=files.all_skipped(),
                       final_psnr=saver.psnr, seconds=state.seconds,
                       images_per_second=state.images_seen / state.seconds if state.seconds else 0.0,
                       resumed_from=start_step, latent_stats=saver.latent_stats,
                       prior=saver.prior, rank=ranks.rank)


def continued(spec: TrainSpec) -> TrainSpec:
    """The spec that carries a run on where an earlier attempt left it: resumed from its
    checkpoint when it saved one (a farm job whose worker was lost), else as it was."""
    has_checkpoint = (spec.run_path() / "checkpoint.safetensors").exists()
    return replace(spec, resume=True) if has_checkpoint else spec


def _previous_run(spec: TrainSpec, run_dir: Path):
    """The checkpoint to resume from (None for a fresh run); refuses to overwrite a run."""
    from latentfx.models.checkpoint import read_checkpoint

    checkpoint = run_dir / "checkpoint.safetensors"
    if spec.resume:
        if not checkpoint.exists():
            raise InputError(f"--resume: no checkpoint at {checkpoint}; start without --resume")
        return read_checkpoint(checkpoint)
    if checkpoint.exists():
        raise InputError(f"{run_dir} already holds a run; pass --resume to continue it, "
                         f"or choose another -o / --run-dir")
    return None


def _options_and_state(spec: TrainSpec, resumed, n_images: int):
    """Fresh: options from the spec (--epochs become steps now that the images are counted).
    Resumed: the saved options and state; only --steps may change, to train longer."""
    from latentfx.training.loop import TrainOptions, TrainState

    if resumed:
        saved = resumed.metadata["training"]
        options = TrainOptions(**saved["options"])
        if spec.steps is not None:
            options = replace(options, steps=spec.steps)
        return options, TrainState(**saved["state"])
    family = FAMILY_DEFAULTS[spec.family]
    steps = spec.steps
    if steps is None:
        epochs = spec.epochs if spec.epochs is not None else 100
        steps = max(1, round(epochs * n_images / spec.batch))
    options = TrainOptions(steps=steps, batch=spec.batch, lr=spec.lr,
                           beta=family.beta if spec.beta is None else spec.beta,
                           kl_warmup=spec.kl_warmup, seed=spec.seed, fit=spec.fit,
                           augment=spec.augment, save_every=spec.save_every,
                           label_weight=_label_weight(spec))
    return options, TrainState()


def _label_weight(spec: TrainSpec) -> float:
    if not (spec.labels or spec.folder_labels):
        return 0.0
    return LABEL_WEIGHT if spec.label_weight is None else spec.label_weight


def _guide_labels(spec: TrainSpec, resumed, config, names: list[str]):
    """(config naming the guide labels, (N, L) 0/1 tensor or None) for the files `names`.
    The labels are the 0/1 columns of --labels (other numeric columns, such as a size, are
    measurements, not labels) or one per sub-folder; a resumed run reads the same ones."""
    import torch

    from latentfx.latents.label_tables import binary_columns, csv_labels, folder_labels

    if not (spec.labels or spec.folder_labels):
        if resumed and config.guide_labels:
            raise InputError(f"this run is guided by {len(config.guide_labels)} labels; give "
                             f"its --labels / --folder-labels again to resume it")
        return config, None
    if spec.folder_labels:
        columns, rows = folder_labels(names)
        where = f"{spec.folder}: --folder-labels"
    else:
        columns, rows = csv_labels(spec.labels, names)
        where = f"--labels {spec.labels}"
    keep = binary_columns(columns, rows)
    if not keep:
        raise InputError(f"{where}: none of its labels ({', '.join(columns) or 'none'}) holds "
                         f"for some of these images and not for others (a label is a column "
                         f"of 0s and 1s, or two or more sub-folders)")
    guide = tuple(columns[j] for j in keep)
    if resumed and guide != config.guide_labels:
        raise InputError(f"{where}: its labels ({', '.join(guide)}) differ from the ones this "
                         f"run was guided by ({', '.join(config.guide_labels) or 'none'}); "
                         f"give those, or start a new run with another -o / --run-dir")
    table = torch.tensor([[row[j] for j in keep] for row in rows])
    return replace(config, guide_labels=guide), table


def _check_same_images(spec: TrainSpec, resumed, files) -> None:
    saved = resumed.metadata["training"]
    if saved.get("data_fingerprint") != files.fingerprint:
        raise InputError(
            f"{spec.folder}: the images differ from the ones this run started with "
            f"({saved.get('images')} then, {len(files.names)} now); resuming needs the same "
            f"images (same names, sizes and contents). Start a new run with another -o")


def _model_and_optimizer(config, options, resumed, device):
    import torch

    from latentfx.models import build_model
    from latentfx.models.checkpoint import model_from_checkpoint
    from latentfx.training.loop import make_optimizer
    from latentfx.training.optim_state import load_optimizer_tensors

    torch.manual_seed(options.seed)  # the initial weights
    model = model_from_checkpoint(resumed) if resumed else build_model(config)
    model = model.to(device, memory_format=torch.channels_last)
    opt = make_optimizer(model, options.lr)
    if resumed:
        load_optimizer_tensors(opt, {k: v.to(device) for k, v in resumed.tensors.items()})
    return model, opt


def _write_skipped(run_dir: Path, skipped) -> None:
    from latentfx.io.atomic import atomic_path

    with atomic_path(run_dir / "skipped.txt") as tmp:
        tmp.write_text("".join(f"{s.path}\t{s.reason}\n" for s in skipped))


class _Saver:
    """Called every save_every steps: checkpoint, exported model, grids, loss curve."""

    def __init__(self, spec, options, model, opt, data, run_dir, *, writes: bool = True):
        import torch

        self.writes = writes  # False in the processes after the first of a several-process run
        self.spec, self.options, self.model, self.opt = spec, options, model, opt
        self.data, self.run_dir = data, run_dir
        self.eval_batch = torch.stack([data.plain(i) for i in range(min(8, len(data)))])
        self.model_id, self.psnr = "", float("nan")
        self.latent_stats: dict | None = None
        self.prior: dict | None = None

    def __call__(self, state) -> None:
        from latentfx.images.grids import save_image
        from latentfx.models.checkpoint import save_checkpoint
        from latentfx.training.optim_state import optimizer_tensors
        from latentfx.training.reports import (reconstruction_pairs, write_loss_plot,
                                               write_sample_grid)

        if not self.writes:
            return

        grid, self.psnr = reconstruction_pairs(self.model, self.eval_batch)
        save_image(grid, self.run_dir / "reconstructions.png")
        write_sample_grid(self.model, self.run_dir / "samples.png", seed=self.options.seed,
                          prior="normal")
        write_loss_plot(state.history, self.run_dir / "loss.png")
        _write_skipped(self.run_dir, self.data.files.all_skipped())  # with those found late
        summary = self._summary(state)
        save_checkpoint(self.run_dir / "checkpoint.safetensors", self.model,
                        training={**summary, "state": asdict(state)},
                        extra=optimizer_tensors(self.opt))
        measured = self._measure() if state.step >= self.options.steps else None
        self.model_id = save_checkpoint(
            self.spec.output, self.model, training=summary,
            prior=measured.prior if measured else None,
            latent_stats=measured.statistics.to_dict() if measured else None)

    def _measure(self):
        """At the end of the run: the latent statistics of the training images and the prior
        fitted to them, kept for the output model and written into the run folder."""
        import json

        from latentfx.io.atomic import atomic_path
        from latentfx.training.reports import measure_training_images, write_sample_grid

        measured = measure_training_images(self.model, self.data)
        self.latent_stats = measured.statistics.to_dict()
        with atomic_path(self.run_dir / "latent_stats.json") as tmp:
            tmp.write_text(json.dumps(self.latent_stats, indent=2))
        if measured.prior is not None:
            self.prior = measured.prior.describe()
            self.model.fitted_prior = measured.prior  # the run ends here: the model as saved
            write_sample_grid(self.model, self.run_dir / "samples-data.png",
                              seed=self.options.seed, prior="data")
        return measured

    def _summary(self, state) -> dict:
        from latentfx.training.data import data_position

        return {
            "options": self.options.to_dict(),
            "images": len(self.data),
            "skipped": len(self.data.files.all_skipped()),
            "data_fingerprint": self.data.files.fingerprint,
            "data_position": data_position(state.step, batch=self.options.batch,
                                           n=len(self.data)),
            "folder_name": Path(self.spec.folder).name,
            "steps": state.step,
            "seconds": round(state.seconds, 1),
            "recon_psnr_db": round(self.psnr, 2),
            "final_loss": state.history[-1][1] if state.history else None,
        }
