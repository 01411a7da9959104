"""latentfx command line.

Every command parses and checks its arguments, then either runs a pipeline in-process with a
progress bar and prints the result, or (--submit) hands the same spec to the render farm and
prints the job's id; the farm verbs print what workers.control returns. Heavy imports
(torch, the pipelines, the farm) happen inside the commands, so `latentfx --help` and
`latentfx CMD --help` answer at once.

Exit codes, decided here and nowhere else:
  0    success
  1    unexpected internal error (a bug: please report it with the traceback)
  2    bad usage: unknown option, missing or malformed argument (Click)
  3    bad input: a file or value that cannot be used; the message names it
  4    partly done: some of the files named on the command line could not be used; the
       output was written without them (listed). Folder jobs such as `train` skip bad files,
       list them, and exit 0: a folder is expected to hold the odd bad file.
  130  interrupted (Ctrl-C) or cancelled; training leaves a resumable checkpoint
"""

from __future__ import annotations

import functools
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from latentfx import __version__
from latentfx.errors import Interrupted, LatentfxError
from latentfx.options import (ALONG, AUGMENTS, DEFAULT_FEATURES, DEVICES, FAMILIES,
                              FIT_POLICIES, FRAME_FITS, INFERENCE_FITS, MORPHS, NOTE,
                              PRECISIONS, PRIORS, VAE_KINDS)

RUN_SETTINGS = ("family", "size", "latent", "widths", "blocks", "batch", "epochs", "lr", "beta",
                "kl_warmup", "seed", "fit", "augment", "save_every", "label_weight")
EXIT_OK, EXIT_BUG, EXIT_USAGE, EXIT_INPUT, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130


class LatentfxGroup(click.Group):
    """Turns the errors latentfx raises on purpose into messages and exit codes."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("\nlatentfx: interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except LatentfxError as exc:
            click.echo(f"latentfx: {exc}", err=True)
            ctx.exit(EXIT_INTERRUPTED if isinstance(exc, Interrupted) else EXIT_INPUT)


class Size(click.ParamType):
    """WIDTHxHEIGHT, or one number for a square."""

    name = "WxH"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        text = str(value).lower()
        width, _, height = text.partition("x")
        try:
            w, h = int(width), int(height or width)
        except ValueError:
            self.fail(f"{value!r} is not a size; write it as WIDTHxHEIGHT, e.g. 512x384", param, ctx)
        if w <= 0 or h <= 0:
            self.fail(f"{value!r}: width and height must be positive", param, ctx)
        return (w, h)


class NumberList(click.ParamType):
    """Comma-separated numbers, positive unless told otherwise: `2,1,3`."""

    def __init__(self, kind: type = int, *, positive: bool = True):
        self.kind, self.positive = kind, positive
        self.name = "N,N,..." if kind is int else "X,X,..."

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            numbers = tuple(self.kind(v) for v in str(value).split(","))
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of "
                      f"{'integers' if self.kind is int else 'numbers'}", param, ctx)
        if self.positive and any(n <= 0 for n in numbers):
            self.fail(f"{value!r}: every entry must be positive", param, ctx)
        return numbers


class Features(click.ParamType):
    """A --features choice: pooled, latent, or clip:DIR with DIR an existing folder."""

    name = "pooled|latent|clip:DIR"

    def convert(self, value, param, ctx):
        from latentfx.options import check_features, features_folder

        try:
            check_features(value)
        except LatentfxError as error:
            self.fail(str(error), param, ctx)
        folder = features_folder(value)
        if folder is not None and not Path(folder).is_dir():
            self.fail(f"{value!r}: no such folder", param, ctx)
        return value


class ProgressBar:
    """Adapts a pipeline's progress(done, total, message) to tqdm bars with ETA; a new bar
    starts whenever a new phase begins (the total changes or the count goes back). When
    stderr is not a terminal (a log file, a farm node), a bar's redraws would be hidden, so
    a plain line with rate and ETA is printed every PLAIN_EVERY seconds and at a phase's end
    instead."""

    PLAIN_EVERY = 10.0  # seconds between plain lines: a log moves, without flooding it

    def __init__(self, desc: str, unit: str = "it", *, stream=None, clock=None):
        import time

        self.desc, self.unit, self.bar, self.last = desc, unit, None, 0
        self.stream = stream or sys.stderr
        self.clock = clock or time.monotonic
        self.plain = not _is_terminal(self.stream)
        self.phase: tuple[int, float] | None = None  # (total, start time) of the plain phase
        self.printed, self.first = 0.0, 0

    def __call__(self, done: int, total: int, message: str = "") -> None:
        if message.startswith(NOTE):  # said once (above a bar), not as the status
            self._note(message)
        elif self.plain:
            self._plain_line(done, total, message)
            self.last = done
        else:
            self._bar(done, total, message)
            self.last = done

    def _note(self, message: str) -> None:
        if self.plain:
            print(message, file=self.stream, flush=True)
        else:
            from tqdm import tqdm

            tqdm.write(message, file=self.stream)

    def _bar(self, done: int, total: int, message: str) -> None:
        from tqdm import tqdm

        if self.bar is None or total != self.bar.total or done < self.last:
            self.close()
            self.bar = tqdm(total=total, desc=self.desc, unit=self.unit, dynamic_ncols=True,
                            file=self.stream, mininterval=0.5)
        self.bar.update(done - self.bar.n)
        if message:
            self.bar.set_postfix_str(message, refresh=False)

    def _plain_line(self, done: int, total: int, message: str) -> None:
        now = self.clock()
        if self.phase is None or total != self.phase[0] or done < self.last:
            self.phase, self.printed = (total, now), now  # rates count from the phase's start
            self.first = done
        if now - self.printed < self.PLAIN_EVERY and done < total:
            return
        self.printed = now
        elapsed = now - self.phase[1]
        rate = (done - self.first) / elapsed if elapsed > 0 else 0.0
        eta = f"ETA {_clock_time((total - done) / rate)}" if rate > 0 else "ETA ?"
        if done >= total:
            eta = f"done in {_clock_time(elapsed)}"
        line = (f"{self.desc}: {done}/{total} ({done / total:.0%}) {rate:.2f} {self.unit}/s "
                f"{eta}" if total else f"{self.desc}: {done}")
        print(f"{line}  {message}".rstrip(), file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream: no redraws there
        return False


def _clock_time(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def report_skipped(skipped) -> None:
    if skipped:
        click.echo(f"skipped {len(skipped)} input(s):", err=True)
        for s in skipped:
            click.echo(f"  {s.path}: {s.reason}", err=True)


def report_notes(notes) -> None:
    for note in notes:
        click.echo(f"note: {note}", err=True)


# -- options shared by several commands (one definition, one help text) -----------------------

def options(*decorators):
    """Several option decorators as one; --help lists them in the order given."""
    def decorate(command):
        for option in reversed(decorators):
            command = option(command)
        return command
    return decorate


model_option = click.option(
    "-m", "--model", default=None, metavar="MODEL",
    help="A .safetensors checkpoint, or a bundled model's name (see `latentfx models`); or "
         "the autoencoder of a diffusion model: an SD / SDXL / SD3 / FLUX VAE file "
         "(LDM/ComfyUI layout), a diffusers model folder, or a TAESD-family .safetensors "
         "(pip install \"latentfx[diffusers]\"). Default: the bundled `default` model.")
vae_kind_option = click.option(
    "--vae-kind", type=click.Choice(VAE_KINDS), default=None,
    help="Which diffusion model an autoencoder file belongs to, where the file cannot tell: "
         "SD and SDXL VAEs (and SD3's and FLUX's) have identical shapes but latents of "
         "different scales. latentfx says when it needs this.")
decoder_option = click.option(
    "--decoder", type=click.Path(exists=True), default=None, metavar="FILE",
    help="Decode with another autoencoder's decoder for the same latents: a TAESD-family "
         "decoder (taesd/taesdxl for SD/SDXL, taesd3/taef1 for SD3/FLUX) makes CPU previews "
         "about 20 times faster than the full VAE's decoder.")
device_option = click.option(
    "--device", type=click.Choice(DEVICES), default="auto", show_default=True,
    help="Where to run: auto picks cuda, then mps, then cpu.")
model_and_device = options(model_option, vae_kind_option, decoder_option, device_option)
features_option = click.option(
    "--features", type=Features(), default=DEFAULT_FEATURES, show_default=True,
    help="What pictures are compared by. pooled: the model's encoder features, their mean and "
         "spread per channel over the whole picture, whitened over the store (what a picture "
         "shows, wherever in it). latent: the latents, place by place (where things are: a "
         "pan, a moving object). clip:DIR: an open_clip model kept in a local folder "
         "(open_clip_config.json and open_clip_model.safetensors; pip install "
         "\"latentfx[clip]\"), which embeds the store's picture files on every run.")


def prior_option(what: str):
    """--prior for the commands that draw `what` from a prior."""
    return click.option(
        "--prior", type=click.Choice(PRIORS), default=None,
        help=f"What {what} are drawn from: normal is N(0, I); data is the Gaussian mixture "
             f"fitted to the model's encoded training data, where the data really is (vector "
             f"models trained by latentfx carry one; `latentfx fit-prior` adds one to older "
             f"models). Default: data when the model has it, else normal.")


# How a video is encoded: the one writer (latentfx/video/writer.py) behind every video job.
encoding_options = options(
    click.option("--crf", type=int, default=None,
                 help="Quality for .mp4/.webm (lower is better; default 18 / 32)."),
    click.option("--codec", default=None,
                 help="ffmpeg encoder instead of the container's default, e.g. libx265."))

# How latent frames are rendered into a video: walk, and degrees (whose morphs are walks).
render_options = options(
    click.option("--fps", type=float, default=24.0, show_default=True,
                 help="Frames per second."),
    click.option("--size", type=Size(), default=None,
                 help="Frame size WxH. Default: the first image keyframe's size (long side at "
                      "most 512) for spatial models; 256x256 for vector models, which decode "
                      "at their own size and are upscaled (bicubic)."),
    click.option("--fit", type=click.Choice(FRAME_FITS), default="crop", show_default=True,
                 help="How images of another size or aspect fill the frame: crop the centre, "
                      "pad (letterbox on black), or stretch."),
    encoding_options,
    click.option("--batch", type=int, default=8, show_default=True,
                 help="Frames decoded together (halves by itself on out-of-memory)."))


# How a walk gets from one picture to the next: walk, and degrees (whose morphs are walks).
morph_option = click.option(
    "--morph", type=click.Choice(MORPHS), default=None,
    help="flow: move each keyframe's content along the correspondence between neighbouring "
         "keyframes (optical flow), so related photographs morph instead of dissolving; where "
         "they do not correspond it blends, as none does. none: blend latents place by place. "
         "Default: flow for models whose latent is a picture (default), none for vector "
         "models.")


@dataclass(frozen=True)
class FarmRequest:
    """--submit: send the job to this farm queue at this priority."""
    queue: str
    priority: int


def farm_options(command):
    """--submit, --priority, --queue: the same job, sent to the render farm. The command
    receives them as one argument, `farm`: a FarmRequest, or None to run the job here."""
    @functools.wraps(command)
    def with_farm(*args, submit: bool, priority: int, queue: str, **kwargs):
        return command(*args, farm=FarmRequest(queue, priority) if submit else None, **kwargs)

    return options(
        click.option("--submit", is_flag=True,
                     help="Send the job to the render farm (LATENTFX_REDIS_URL, "
                          "LATENTFX_STORAGE; see `latentfx doctor`), print its id and return "
                          "at once."),
        click.option("--priority", type=click.IntRange(0, 9), default=5, show_default=True,
                     help="Farm priority, 9 first (with --submit)."),
        click.option("--queue", type=click.Choice(["gpu", "cpu"]), default="gpu",
                     show_default=True,
                     help="Farm queue: which workers take the job (with --submit)."),
    )(with_farm)


def submit_or_run(name: str, pipeline, spec, *, report, farm: FarmRequest | None = None,
                  unit: str = "it", kind: str | None = None) -> None:
    """How every job command ends. With --submit (`farm`), hand the spec to the farm as a
    `kind` job (default: `name`) and print its id; otherwise run `pipeline` here behind a
    progress bar called `name` and print its result with `report`. The spec is checked
    first, before the pipeline imports torch, so a wrong argument is reported at once."""
    spec = spec.checked()
    if farm is not None:
        from workers.settings import from_environment
        from workers.submit import submit

        kind = kind or name
        job = submit(kind, spec, from_environment(), queue=farm.queue, priority=farm.priority)
        click.echo(job)
        click.echo(f"submitted {kind} job {job} to the {farm.queue} queue; follow it with "
                   f"`latentfx status {job} --follow`", err=True)
        return
    bar = ProgressBar(name, unit)
    try:
        result = pipeline.run(spec, progress=bar)
    finally:
        bar.close()
    report(result)


@click.group(cls=LatentfxGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="latentfx")
def cli():
    """Train convolutional VAEs on image collections and make media from their latent spaces."""


@cli.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The model file to write (.safetensors). Its run folder goes beside it.")
@click.option("--family", type=click.Choice(FAMILIES), default="spatial", show_default=True,
              help="vector: dense latent of D numbers, fixed size (walks, attribute vectors). "
                   "spatial: fully convolutional latent image, any size (photographs).")
@click.option("--size", type=int, default=None,
              help="Training image size (vector: the model's one size; spatial: crop size). "
                   "Must be a multiple of the downsampling factor. Default: 64 / 96.")
@click.option("--latent", default=None,
              help="vector: latent dimension D (default 32). spatial: CHANNELS:FACTOR, "
                   "e.g. 4:4 = 4 channels at 1/4 resolution (default 4:4).")
@click.option("--widths", type=NumberList(int), default=None,
              help="Channels per resolution level, e.g. 32,64. Each level halves the size.")
@click.option("--blocks", type=int, default=2, show_default=True,
              help="Residual blocks per level (depth).")
@click.option("--batch", type=int, default=16, show_default=True, help="Images per step.")
@click.option("--steps", type=int, default=None, help="Optimisation steps (default: 100 epochs).")
@click.option("--epochs", type=float, default=None, help="Passes over the data, instead of --steps.")
@click.option("--lr", type=float, default=2e-3, show_default=True,
              help="Peak learning rate (AdamW; warm-up, then cosine decay to 10%).")
@click.option("--beta", type=float, default=None,
              help="KL weight per pixel value. Higher: blurrier reconstructions but a smoother "
                   "latent space, so walks stay on the image manifold. Lower: sharper, but "
                   "walks cross gaps as ghostly blends. Default: 1e-1 vector, 1e-4 spatial.")
@click.option("--kl-warmup", type=int, default=500, show_default=True,
              help="Steps over which beta ramps up from 0, so the decoder learns to use z "
                   "before the KL pulls it towards the prior.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds initialisation, data order and augmentation. Same seed, same CPU "
                   "weights.")
@click.option("--fit", type=click.Choice(FIT_POLICIES), default="center-crop", show_default=True,
              help="Mixed aspect ratios: crop the centre square, pad to a square, or take "
                   "random crops at random scales (best for spatial models).")
@click.option("--augment", type=click.Choice(AUGMENTS), default="flip", show_default=True,
              help="flip: mirror half the images. strong: also rotations, channel shuffles, "
                   "brightness and contrast (for very small collections).")
@click.option("--save-every", type=int, default=500, show_default=True,
              help="Write checkpoint, model, sample and reconstruction grids and loss curve "
                   "every N steps.")
@click.option("--labels", type=click.Path(dir_okay=False), default=None,
              help="Vector models: a CSV with a `path` column (relative to FOLDER); its 0/1 "
                   "columns are labels that the latent space is guided to lay out as "
                   "directions (other columns are ignored). Makes `vector --attr` vectors, "
                   "samples and walks keep those labels; see the README.")
@click.option("--folder-labels", is_flag=True,
              help="Vector models: guide by sub-folder names instead (FOLDER/cats/..., "
                   "FOLDER/dogs/...).")
@click.option("--label-weight", type=float, default=None,
              help="Weight of the guide labels' loss against the reconstruction "
                   "(default 1e-2 with --labels or --folder-labels).")
@click.option("--nproc", type=click.IntRange(1), default=1, show_default=True,
              help="Train in N processes on this machine (one per GPU; gloo on the CPU), "
                   "as `torchrun --nproc-per-node N` would. --batch stays the global batch, "
                   "split evenly across them.")
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
              help="Arithmetic of the forward pass. auto: bf16 on CUDA devices that support "
                   "it, fp16 with loss scaling on older CUDA devices, fp32 elsewhere (CPU "
                   "autocast is slower for these convolutions). Weights stay fp32.")
@click.option("--compile", is_flag=True,
              help="torch.compile the model's forward pass: faster steps on a GPU after a "
                   "slow first one (minutes of compiling). Off by default.")
@click.option("--workers", type=click.IntRange(0), default=None,
              help="Processes that decode and augment images while the model trains (0: "
                   "decode in the training process). Default: one per core but one, at "
                   "most 8. Does not change the result.")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None,
              help="Where the run's checkpoint and previews go. Default: OUTPUT with .run.")
@click.option("--resume", is_flag=True,
              help="Continue the run in the run folder (same data order and optimiser state).")
@device_option
@farm_options
@click.pass_context
def train(ctx, folder, output, farm, **options):
    """Train a conv-VAE on the images in FOLDER (recursive)."""
    from pipelines import train as pipeline

    if farm is not None and (options["nproc"] > 1 or options["resume"]):
        raise click.UsageError("--submit runs on one farm worker and resumes by itself after "
                               "a lost worker; drop --nproc and --resume")

    if options["resume"]:
        # A resumed run keeps its own settings; silently ignoring a new --lr would mislead.
        given = [f"--{name.replace('_', '-')}" for name in RUN_SETTINGS
                 if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]
        if given:
            raise click.UsageError(f"--resume continues the run with its own settings; drop "
                                   f"{', '.join(given)} (only --steps, --device, --workers, "
                                   f"--precision and --compile may change)")
    nproc = options.pop("nproc")
    spec = pipeline.TrainSpec(folder=folder, output=output, **options)
    if nproc > 1:
        spec = spec.checked()  # once, here, before N processes import torch
        from latentfx.training.distributed import launch

        fields = [name for name in spec.to_dict() if name not in ("folder", "output", "run_dir",
                                                                     "resume")]
        launch(nproc, __file__, ["train", *spec.arguments(fields)])
        return
    submit_or_run("train", pipeline, spec, report=report_train, farm=farm)


def report_train(result) -> None:
    if result.rank:
        return  # a several-process run reports once, from process 0
    if result.resumed_from:
        click.echo(f"resumed at step {result.resumed_from}")
    click.echo(f"trained {result.steps} steps on {result.images} images "
               f"({result.images_per_second:.1f} images/s); reconstruction PSNR "
               f"{result.final_psnr:.2f} dB")
    click.echo(f"model: {result.output}  (id {result.model_id[:16]})")
    click.echo(f"run folder: {result.run_dir}")
    report_latent_space(result.latent_stats, result.prior)
    report_skipped(result.skipped)


def report_latent_space(stats: dict | None, prior: dict | None, *, label_width: int = 0) -> None:
    """How the encoded data sits against N(0, I), and the fitted prior (`info`, `train`,
    `fit-prior`); rows indented under a heading of `label_width` characters."""
    from latentfx.priors.mixture import summary
    from latentfx.priors.statistics import summary_lines

    width = max(label_width, 14)
    if stats is None:
        click.echo(f"{'latent space':<{width}}not recorded (a model from before latentfx "
                   f"measured it; `latentfx fit-prior` measures and records it)")
    else:
        click.echo(f"{'latent space':<{width}}against the prior N(0, I):")
        for label, text in summary_lines(stats):
            click.echo(f"  {label:<{width - 2}}{text}")
    click.echo(f"{'fitted prior':<{width}}" + (summary(prior) if prior else
               "none (samples draw from N(0, I); `latentfx fit-prior` fits one)"))


@cli.command()
@click.argument("model_path", metavar="[MODEL]", required=False)
@model_option
@vae_kind_option
@decoder_option
@click.option("--size", type=Size(), default=None,
              help="Image size for the latent shape (default: the training size; 512x512 for "
                   "spatial models).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def info(model_path, model, vae_kind, decoder, size, as_json):
    """Describe MODEL (a checkpoint path or bundled name, as an argument or with -m;
    default: the default model)."""
    from latentfx.models.info import describe

    if model_path and model and model_path != model:
        raise click.UsageError("give the model once: as an argument or with -m, not both")
    summary = describe(model_path or model, size=size, vae_kind=vae_kind, decoder=decoder)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    stats, prior = summary.pop("latent_stats", None), summary.pop("prior", None)
    foreign = summary.pop("foreign", None)
    for key, value in summary.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        click.echo(f"{key:<18}{value}")
    if foreign is None:
        report_latent_space(stats, prior, label_width=18)


@cli.command(name="fit-prior")
@click.argument("model_path", metavar="MODEL")
@click.option("--folder", type=click.Path(exists=True, file_okay=False), default=None,
              help="Images to encode: the model's training images (recursive).")
@click.option("--store", type=click.Path(dir_okay=False), default=None,
              help="Or a latent store made with this model (`latentfx encode`); it keeps means "
                   "only, so the KL is not measured.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The new model file (.safetensors): MODEL's weights plus the fitted prior. "
                   "A new file, so a new model id; MODEL itself is left as it is.")
@click.option("--components", type=click.IntRange(min=1), default=None,
              help="Gaussian components of the mixture. Default: the count, up to 64, whose "
                           "fit to 80% of the latents best predicts the other 20%.")
@click.option("--fit", type=click.Choice(INFERENCE_FITS), default="center-crop",
              show_default=True, help="How --folder images are fitted to the model's size.")
@click.option("--batch", type=int, default=64, show_default=True, help="Images per batch.")
@device_option
def fit_prior(model_path, **options):
    """Fit a prior to MODEL's encoded data and write a copy of MODEL that carries it.

    A Gaussian mixture over the encoded means (ex-post density estimation, Ghosh et al.,
    ICLR 2020): samples, seed:N keyframes and walk --random drawn from it (--prior data) land
    where the data is, not where N(0, I) puts them. Vector models trained by this latentfx
    already carry one; this is for older ones. Also records the latent statistics that
    `latentfx info` prints. The copy is a new file with a new model id: outputs, stores and
    vectors made with MODEL still name MODEL (encode again with the copy to use its id)."""
    from pipelines import fit_prior as pipeline

    submit_or_run("fit-prior", pipeline, pipeline.FitPriorSpec(model=model_path, **options),
                  report=report_fit_prior, unit="img")


def report_fit_prior(result) -> None:
    click.echo(f"wrote {result.output}  (id {result.model_id[:16]}, a copy of "
               f"{result.source_model_id[:16]} with a prior fitted to {result.images} images)")
    report_latent_space(result.latent_stats, result.prior)
    report_skipped(result.skipped)


@cli.command()
def models():
    """List the bundled models."""
    from latentfx.models.bundled import BUNDLED_MODELS, bundled_model_path

    for name, text in BUNDLED_MODELS.items():
        present = "" if bundled_model_path(name).exists() else "  (missing from this install)"
        click.echo(f"{name:<10}{text}{present}")


@cli.command()
@click.argument("images", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(),
              help="Grid to write (.png, .jpg, .webp): originals left, reconstructions right.")
@model_and_device
@click.option("--fit", type=click.Choice(INFERENCE_FITS), default="center-crop",
              show_default=True, help="How vector models fit an image to their size.")
@click.option("--max-side", type=int, default=2048, show_default=True,
              help="Spatial models: downscale larger images to this many pixels first.")
@farm_options
def reconstruct(images, farm, **options):
    """Encode and decode IMAGES; write a comparison grid and print PSNR/SSIM."""
    from pipelines import reconstruct as pipeline

    spec = pipeline.ReconstructSpec(images=list(images), **options)
    submit_or_run("reconstruct", pipeline, spec, farm=farm, report=report_reconstruct)


def report_reconstruct(result) -> None:
    for s in result.scores:
        click.echo(f"{s.path}: {s.psnr:.2f} dB PSNR, SSIM {s.ssim:.3f} at {s.size[0]}x{s.size[1]}")
    click.echo(f"wrote {result.output}")
    report_skipped(result.skipped)
    if result.skipped:
        sys.exit(EXIT_PARTIAL)


@cli.command()
@click.option("-o", "--output", required=True, type=click.Path(), help="Grid to write (.png, .jpg, .webp).")
@click.option("-n", "count", type=int, default=16, show_default=True, help="How many samples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the latents.")
@click.option("--size", type=Size(), default=None,
              help="Spatial models: output size WxH (default 256x256).")
@click.option("--temperature", type=float, default=1.0, show_default=True,
              help="Scale of the prior's standard deviation (with --prior data, within each "
                   "mixture component): <1 safer, >1 wilder.")
@prior_option("the samples")
@click.option("--labels", is_flag=True,
              help="Caption each cell with its seed:N (cell i is seed:SEED+i), to use it as a "
                   "walk keyframe or mix input.")
@model_and_device
@farm_options
def sample(count, farm, **options):
    """Decode random latents drawn from the prior into a grid (cell i is seed:SEED+i).

    Vector models are generators: their samples look like the training data. A spatial model
    (the bundled `default`) is not: its prior draws decode to texture noise, and sample says
    so; sample a vector model (-m shapes), or walk and transfer between real images."""
    from pipelines import sample as pipeline

    def report(result) -> None:
        report_notes(result.notes)
        click.echo(f"wrote {result.output} ({count} samples at {result.size[0]}x{result.size[1]}, "
                   f"prior {result.prior})")

    submit_or_run("sample", pipeline, pipeline.SampleSpec(n=count, **options), farm=farm,
                  report=report)


@cli.command()
@click.argument("keyframes", nargs=-1)
@click.option("-o", "--output", required=True,
              help="Video to write: .mp4 (H.264), .webm (VP9), .gif, .mov (ProRes 422 HQ), or a "
                   "folder / name_%05d.png pattern for a PNG sequence.")
@model_and_device
@render_options
@click.option("--interp", type=click.Choice(["lerp", "slerp", "spline"]), default=None,
              help="lerp: straight lines. slerp: great circles (keeps latent norms, the usual "
                   "choice for Gaussian latents). spline: Catmull-Rom through every keyframe, no "
                   "kink at keyframes. Default: slerp; spline with --random.")
@click.option("--ease", type=click.Choice(["linear", "smooth", "smoother", "cosine", "quad",
                                           "cubic", "quart"]), default=None,
              help="Timing within each segment. Default: smooth (rests on keyframes); linear "
                   "for spline (keeps moving through them) and for --pacing uniform.")
@click.option("--frames", type=int, default=None,
              help="Frames per segment: K keyframes give N*(K-1)+1 frames, a loop N*K. "
                   "Default 48.")
@click.option("--duration", type=float, default=None, help="Length of the whole video in seconds.")
@click.option("--durations", type=NumberList(float), default=None,
              help="Seconds per segment, e.g. 2,1,3.")
@click.option("--hold", type=int, default=0, show_default=True,
              help="Extra frames to rest on each keyframe.")
@click.option("--loop", is_flag=True,
              help="Return to the first keyframe seamlessly (no repeated frame at the seam).")
@click.option("--random", is_flag=True,
              help="No keyframes: walk through --keys random draws from the prior "
                   "(seed:S, seed:S+1, ...). With --loop it plays forever without a seam.")
@click.option("--keys", type=int, default=4, show_default=True, help="Keyframes for --random.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Fixes every random choice (the --random keyframes).")
@click.option("--temperature", type=float, default=1.0, show_default=True,
              help="Scale of the prior for seed:N keyframes: <1 tamer, >1 wilder.")
@prior_option("seed:N and --random keyframes")
@click.option("--pacing", type=click.Choice(["time", "uniform"]), default="time",
              show_default=True,
              help="uniform: place frames so the picture changes by the same amount from frame "
                   "to frame (a pre-pass measures the path first).")
@click.option("--residual", is_flag=True,
              help="Add back each image keyframe's reconstruction residual, so keyframes show "
                   "the original photographs while in-between frames stay latent.")
@click.option("--space", type=click.Choice(["latent", "pixel"]), default="latent",
              show_default=True, help="pixel: a plain crossfade, for comparison.")
@morph_option
@click.option("--along", type=click.Choice(ALONG), default=None,
              help="Vector models: data carries every frame onto the pictures the model "
                   "draws (decoded and encoded again a few times), so the walk crosses the "
                   "gaps between kinds of picture in a few quick frames, often through a third "
                   "real-looking one, instead of dwelling on double exposures; line follows "
                   "--interp as it is. Default: data on vector models.")
@click.option("--compare", is_flag=True,
              help="Render the pixel crossfade (left) beside the latent walk (right), and "
                   "the morph beside both when morphing.")
@click.option("--frames-dir", default=None,
              help="Also keep every frame as PNGs in this folder (or name_%05d.png pattern).")
@click.option("--sheet", default=None, help="Also write a contact sheet of evenly spaced frames.")
@click.option("--sheet-frames", type=int, default=8, show_default=True,
              help="Frames on the contact sheet.")
@farm_options
def walk(keyframes, farm, **options):
    """Render a latent walk through KEYFRAMES (images or seed:N) into a video."""
    from pipelines import walk as pipeline

    spec = pipeline.WalkSpec(keyframes=list(keyframes), **options)
    submit_or_run("walk", pipeline, spec, farm=farm, report=report_walk, unit="frame")


def report_walk(result) -> None:
    width, height = result.size
    report_notes(result.notes)
    click.echo(f"wrote {result.output}: {result.frames} frames at {width}x{height} in "
               f"{result.seconds:.1f} s ({result.frames / result.seconds:.1f} frames/s)")
    click.echo(f"evenness: frame-to-frame change varies by {result.step_spread:.2f} (coefficient "
               f"of variation, 0 = even; easing adds some on purpose; see --pacing uniform)")
    scores = [f"{p:.1f} dB" if p != float("inf") else "exact"
              for p in result.keyframe_psnr if p is not None]
    if scores:
        click.echo(f"keyframes vs. originals (PSNR): {', '.join(scores)}")
    if result.sheet:
        click.echo(f"contact sheet: {result.sheet}")


@cli.command()
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("-o", "--output", default=None,
              help="Write here instead of the recorded output path.")
@click.option("--device", type=click.Choice(DEVICES), default=None,
              help="Run on another device (default: the recorded one; the same device gives "
                   "the same frames).")
def rerender(manifest, output, device):
    """Make an output again from its MANIFEST (OUTPUT.latentfx.json)."""
    from pipelines import rerender as loader

    module, spec = loader.load(manifest, output=output, device=device)
    submit_or_run("rerender", module, spec, report=report_rerender, unit="frame")


def report_rerender(result) -> None:
    if hasattr(result, "step_spread"):
        report_walk(result)
    else:
        click.echo(f"wrote {result.output}")


@cli.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The latent store to write (.safetensors). Running again on the same "
                   "folder encodes only new or changed files and drops deleted ones.")
@model_and_device
@click.option("--size", type=Size(), default=None,
              help="Spatial models: the size images are fitted to (default 128x128). Vector "
                   "models use their own size.")
@click.option("--fit", type=click.Choice(FRAME_FITS), default="crop",
              show_default=True, help="How images of other aspects are fitted.")
@click.option("--labels", type=click.Path(dir_okay=False), default=None,
              help="CSV with a `path` column (relative to FOLDER) and numeric attribute "
                   "columns, stored with the latents.")
@click.option("--folder-labels", is_flag=True,
              help="Label each image by its sub-folder's name (one 0/1 attribute per folder).")
@click.option("--batch", type=int, default=32, show_default=True, help="Images per batch.")
@click.option("--workers", type=int, default=None,
              help="Image decoders. On the CPU: threads decoding each batch before the model "
                   "takes it (default: one per core the model uses). On a GPU: processes "
                   "decoding ahead while it encodes (default 2). 0: decode in the main "
                   "thread.")
@farm_options
def encode(farm, **options):
    """Encode every image under FOLDER (recursive) into a latent store."""
    from pipelines import encode as pipeline

    submit_or_run("encode", pipeline, pipeline.EncodeSpec(**options), farm=farm,
                  report=report_encode, unit="img")


def report_encode(result) -> None:
    click.echo(f"wrote {result.output}: {result.count} latents ({result.encoded} encoded at "
               f"{result.images_per_second:.1f} images/s, {result.reused} unchanged, "
               f"{result.dropped} dropped)")
    report_notes(result.notes)
    report_skipped(result.skipped)


@cli.command()
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("--store", required=True, type=click.Path(dir_okay=False),
              help="A latent store made by `latentfx encode` with the same model.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Contact sheet to write (.png, .jpg, .webp): the query, then its neighbours "
                   "with their distances.")
@click.option("-k", type=int, default=8, show_default=True, help="How many neighbours.")
@click.option("--metric", type=click.Choice(["euclidean", "cosine"]), default="euclidean",
              show_default=True, help="Distance between features.")
@click.option("--folder", type=click.Path(file_okay=False), default=None,
              help="Where the store's images are now, if the folder moved.")
@features_option
@model_and_device
def neighbors(**options):
    """Find the images of a latent store nearest to IMAGE (IMAGE itself left out when it is
    in the store)."""
    from pipelines import neighbors as pipeline

    submit_or_run("neighbors", pipeline, pipeline.NeighborsSpec(**options),
                  report=report_neighbors)


def report_neighbors(result) -> None:
    for n in result.neighbors:
        click.echo(f"{n.distance:10.4f}  {n.path}")
    if result.itself:
        click.echo(f"left out the query itself: {', '.join(result.itself)}", err=True)
    click.echo(f"wrote {result.output}")


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Image to write (.png, .jpg, .webp).")
@click.option("--normalize", is_flag=True,
              help="Scale the weights to sum to 1 instead of refusing other sums.")
@click.option("--triangle", type=int, default=None,
              help="Three inputs, no weights: a grid of N rows covering every mix of them "
                   "(first on top, second bottom left, third bottom right).")
@click.option("--size", type=Size(), default=None,
              help="Picture size WxH (default as for walks).")
@click.option("--fit", type=click.Choice(FRAME_FITS), default="crop",
              show_default=True, help="How inputs of other aspects are fitted.")
@prior_option("seed:N inputs")
@model_and_device
def mix(inputs, **options):
    """Decode a weighted mix of latents: INPUTS are KEYFRAME:WEIGHT (images, seed:N or
    STORE:entry), e.g. a.jpg:0.2 b.jpg:0.3 c.jpg:0.5, weights summing to 1; without weights,
    an equal mix. Negative weights make analogies: c.jpg:1 b.jpg:1 a.jpg:-1 is c + (b - a),
    "a is to b as c is to ?"."""
    from pipelines import mix as pipeline

    def report(result) -> None:
        if not options["triangle"]:
            click.echo("weights: " + ", ".join(f"{w:.3g}" for w in result.weights))
        click.echo(f"wrote {result.output} ({result.size[0]}x{result.size[1]} per picture)")

    submit_or_run("mix", pipeline, pipeline.MixSpec(inputs=list(inputs), **options),
                  report=report)


@cli.command(name="filter")
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Image to write (.png, .jpg, .webp), the same size as IMAGE.")
@click.option("--kernel", type=click.Choice(["blur", "sharpen", "edge", "emboss", "outline"]),
              default=None, help="A classic 3x3 kernel.")
@click.option("--matrix", type=NumberList(float, positive=False), default=None,
              help='Your own 3x3 kernel, nine numbers row by row: "-1,-1,-1,-1,8,-1,-1,-1,-1".')
def filter_command(**options):
    """Convolve IMAGE with a 3x3 kernel (zero padding, same size out), as a conv layer does."""
    from pipelines import filter as pipeline

    submit_or_run("filter", pipeline, pipeline.FilterSpec(**options), report=report_picture)


def report_picture(result) -> None:
    click.echo(f"wrote {result.output} ({result.size[0]}x{result.size[1]})")


@cli.command()
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Sheet to write (.png, .jpg, .webp): one row per layer.")
@click.option("--channels", type=int, default=8, show_default=True,
              help="Feature maps shown per layer (those with the largest spread).")
@model_and_device
def inspect(**options):
    """Show IMAGE's activations through every encoder and decoder layer."""
    from pipelines import inspect_layers as pipeline

    submit_or_run("inspect", pipeline, pipeline.InspectSpec(**options), report=report_inspect)


def report_inspect(result) -> None:
    for layer in result.layers:
        shape = "x".join(map(str, layer.shape))
        click.echo(f"{layer.name:<32}{shape:>14}  [{layer.low:.3g}, {layer.high:.3g}]")
    click.echo(f"wrote {result.output}")


@cli.command()
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The attribute vector to write (.safetensors).")
@click.option("--store", type=click.Path(dir_okay=False), default=None,
              help="A labelled latent store (`latentfx encode --labels/--folder-labels`).")
@click.option("--attr", default=None, help="The store's attribute (label column).")
@click.option("--against", default=None, metavar="LABEL",
              help="Another label of the store: the vector goes from the images with it to "
                   "those with --attr (blue to red), instead of from all the images without "
                   "--attr. The edit for turning one class into another.")
@click.option("--with", "with_dir", type=click.Path(file_okay=False), default=None,
              help="Folder of images that have the attribute.")
@click.option("--without", "without_dir", type=click.Path(file_okay=False), default=None,
              help="Folder of images that do not.")
@click.option("--holdout", type=float, default=0.2, show_default=True,
              help="Share of the images kept out to score the vector (AUC).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the split.")
@click.option("--balance", default=None, metavar="LABEL,LABEL",
              help="Other labels of the store to hold fixed, so that attributes correlated "
                   "with this one are not dragged along; reports how much they move with and "
                   "without balancing.")
@model_and_device
@farm_options
def vector(balance, farm, **options):
    """Make an attribute vector: centroid with the attribute minus centroid without."""
    from pipelines import vector as pipeline

    held = tuple(b.strip() for b in balance.split(",")) if balance else None
    submit_or_run("vector", pipeline, pipeline.VectorSpec(balance=held, **options), farm=farm,
                  report=report_vector)


def report_vector(result) -> None:
    auc = result.score.get("auc")
    click.echo(f"wrote {result.output}: {result.name} from {result.counts['with']} with / "
               f"{result.counts['without']} without")
    click.echo(f"held-out separation: AUC {auc if auc is not None else 'n/a'} on "
               f"{result.counts['held_out']} images (0.5 = not captured, 1 = perfectly)")
    for name, moved in result.score.get("drift", {}).items():
        click.echo(f"{name} moves {moved['unbalanced']:+.3f} per unit unbalanced, "
                   f"{moved['balanced']:+.3f} balanced")


@cli.command()
@click.argument("vectors", nargs=-1, type=click.Path(dir_okay=False))
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Image to write (.png, .jpg, .webp).")
@click.option("--strength", type=float, default=1.0, show_default=True,
              help="How far to move along the vector(s) given as arguments.")
@click.option("--vec", "extra", multiple=True, metavar="FILE:STRENGTH",
              help="A vector with its own strength; repeat for several, e.g. --vec smile:1 "
                   "--vec glasses:-0.5. Any vector may be named without its suffix: smile "
                   "finds smile, smile.safetensors or smile.vec.safetensors, the first that "
                   "exists.")
@click.option("--residual", is_flag=True, help="Keep the photo's own detail (as in walks).")
@click.option("--size", type=Size(), default=None, help="Picture size WxH.")
@click.option("--sweep", default=None, metavar="FROM:TO",
              help="Run the strength from FROM to TO (e.g. -2:2): a strip of --grid pictures "
                   "for an image output, or a video of --frames frames for .mp4/.webm/.gif/...")
@click.option("--grid", type=int, default=9, show_default=True, help="Pictures in a swept strip.")
@click.option("--frames", type=int, default=48, show_default=True, help="Frames of a swept video.")
@click.option("--fps", type=float, default=24.0, show_default=True, help="Swept video frame rate.")
@model_and_device
@farm_options
def apply(vectors, strength, extra, sweep, farm, **options):
    """Move IMAGE along attribute VECTORS and decode it. A vector may be named without its
    suffix: red finds red, red.safetensors or red.vec.safetensors, the first that exists."""
    from pipelines import apply as pipeline

    spec = pipeline.ApplySpec(vectors=vector_pairs(vectors, strength, extra),
                              sweep=strength_span(sweep), **options)
    submit_or_run("apply", pipeline, spec, farm=farm, report=report_picture)


def vector_pairs(vectors, strength: float, extra) -> list[tuple[str, float]]:
    """(file, strength) for every vector: those given as arguments move by --strength, each
    --vec FILE:STRENGTH by its own. `red` finds red, red.safetensors or red.vec.safetensors."""
    from latentfx.latents.vector_files import vector_file

    pairs = [(v, strength) for v in vectors]
    for item in extra:
        name, _, value = item.rpartition(":")
        try:
            pairs.append((name, float(value)))
        except ValueError:
            raise click.BadParameter(f"{item!r}: write FILE:STRENGTH", param_hint="--vec")
    return [(vector_file(name), amount) for name, amount in pairs]


def strength_span(sweep: str | None) -> tuple[float, float] | None:
    """--sweep FROM:TO as numbers."""
    if not sweep:
        return None
    low, _, high = sweep.rpartition(":")
    try:
        return float(low), float(high)
    except ValueError:
        raise click.BadParameter(f"{sweep!r}: write FROM:TO, e.g. -2:2", param_hint="--sweep")


@cli.command()
@click.argument("input", type=click.Path(exists=True))
@click.option("-o", "--output", required=True, type=click.Path(),
              help="For an image, an image (.png, .jpg, .webp); for a folder, a folder (the "
                   "tree is mirrored); for a video, a video (.mp4, .webm, .mov, .gif, or a "
                   "folder of PNGs).")
@model_and_device
@click.option("--strength", type=float, default=1.0, show_default=True,
              help="1: the model's reading of the picture; 0: the original; between: a blend.")
@click.option("--smooth", type=int, default=0, show_default=True, metavar="FRAMES",
              help="Videos: average each frame's latent with its neighbours' over this many "
                   "frames, centred (an even number acts as the next odd one), against "
                   "flicker (0: off; try 3 to 7).")
@click.option("--align/--no-align", default=True, show_default=True,
              help="With --smooth on a spatial model: move each neighbour's latent along the "
                   "optical flow first, so smoothing does not smear motion (or scene cuts).")
@click.option("--tile", type=int, default=768, show_default=True,
              help="Spatial models: pictures larger than this (pixels per side) go through "
                   "in overlapping tiles, so memory stays bounded.")
@click.option("--overlap", type=int, default=64, show_default=True,
              help="Pixels neighbouring tiles share and blend over.")
@click.option("--batch", type=int, default=8, show_default=True, help="Video frames per batch.")
@encoding_options
@farm_options
def transfer(farm, **options):
    """Reinterpret INPUT (an image, a folder or a video) through a model trained on another
    collection."""
    from pipelines import transfer as pipeline

    video = pipeline.input_kind(options["input"]) == "video"
    submit_or_run("transfer", pipeline, pipeline.TransferSpec(**options), farm=farm,
                  report=report_transfer, unit="frame" if video else "img",
                  kind="transfer-video" if video else "transfer")


def report_transfer(result) -> None:
    what = "frame" if result.kind == "video" else "picture"
    plural = "" if result.written == 1 else "s"
    click.echo(f"wrote {result.output}: {result.written} {what}{plural} in {result.seconds:.1f} s"
               + (" with the input's sound" if result.has_sound else ""))
    if result.flicker and result.flicker["ratio"] is not None:
        click.echo(f"flicker: {result.flicker['ratio']:.2f} (mean frame-to-frame change of the "
                   f"output / of the input; --smooth lowers it)")
    report_notes(result.notes)
    report_skipped(result.skipped)


@cli.command()
@click.argument("start", type=click.Path(exists=True, dir_okay=False))
@click.argument("end", type=click.Path(exists=True, dir_okay=False))
@click.option("--pool", required=True, type=click.Path(exists=True),
              help="The collection to draw the chain from: a latent store (latentfx encode) or "
                   "a folder of images (encoded first; encode it once to reuse it).")
@click.option("-n", "--images", type=int, default=8, show_default=True,
              help="Real images between START and END (about: the chain says if it differs).")
@click.option("-o", "--output", required=True,
              help="The video of the chain (.mp4, .webm, .gif, .mov or a PNG folder).")
@click.option("--sheet", type=click.Path(dir_okay=False), default=None,
              help="A contact sheet of the chain with each step's distance.")
@click.option("-k", type=int, default=10, show_default=True,
              help="Neighbours per image in the graph the chain walks on; larger joins more "
                   "of the pool (and allows bigger steps).")
@click.option("--via", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A waypoint the chain must pass through; repeat for several, in order.")
@click.option("--exclude", multiple=True, metavar="GLOB",
              help="Leave out pool images whose path in the pool or file name matches, e.g. "
                   "'drafts/*' or 'IMG_0042.jpg'; repeatable.")
@click.option("--metric", type=click.Choice(["euclidean", "cosine"]), default="euclidean",
              show_default=True, help="How distances between features are measured.")
@features_option
@click.option("--folder", type=click.Path(file_okay=False), default=None,
              help="Where the store's images are now, if the folder moved.")
@click.option("--frames", type=int, default=24, show_default=True,
              help="Frames per morph from one image to the next.")
@click.option("--hold", type=int, default=12, show_default=True,
              help="Frames each real image rests on screen.")
@morph_option
@render_options
@model_and_device
@farm_options
def degrees(via, exclude, farm, **options):
    """X Degrees of Separation: a chain of real images from a pool that leads from START to
    END in small steps, as a video of morphs (each real image shown exactly)."""
    from pipelines import degrees as pipeline

    spec = pipeline.DegreesSpec(via=list(via), exclude=list(exclude), **options)
    submit_or_run("degrees", pipeline, spec, farm=farm, report=report_degrees, unit="frame")


def report_degrees(result) -> None:
    for i, link in enumerate(result.chain):
        step = "" if i == 0 else f"  (step {link.step:.3g})"
        click.echo(f"{i:3d}. {link.path}{step}")
    click.echo(f"largest step {result.largest_step:.3g} against a direct jump of "
               f"{result.direct:.3g}; chain found in {result.search_seconds:.2f} s")
    report_notes(result.notes)
    click.echo(f"wrote {result.output} ({result.frames} frames)"
               + (f" and {result.sheet}" if result.sheet else ""))


@cli.command(name="map")
@click.argument("store", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The map picture (.png, .jpg, .webp).")
@click.option("--html", default=None, type=click.Path(dir_okay=False),
              help="The interactive page (default: OUTPUT with .html); opens without a server.")
@click.option("--method", type=click.Choice(["pca", "tsne"]), default="pca", show_default=True,
              help="2-D projection: PCA (fast, linear) or t-SNE (keeps neighbourhoods).")
@click.option("--color-by", default=None,
              help="Label that colours the points, or `folder` (each top-level sub-folder its "
                   "own colour). Default: folder when the labels are the sub-folders "
                   "(encode --folder-labels), else the first label.")
@features_option
@click.option("--thumbs", type=int, default=200, show_default=True,
              help="Thumbnails drawn on the picture (the page shows all).")
@click.option("--folder", type=click.Path(file_okay=False), default=None,
              help="Where the store's images are now, if the folder moved.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds t-SNE.")
@device_option
@farm_options
def map_command(farm, **options):
    """Lay a latent STORE out in 2-D with thumbnails, as a picture and an HTML page."""
    from pipelines import map as pipeline

    submit_or_run("map", pipeline, pipeline.MapSpec(**options), farm=farm, report=report_map)


def report_map(result) -> None:
    if result.explained:
        click.echo(f"the two axes explain {sum(result.explained):.0%} of the latent variance")
    click.echo(f"wrote {result.output} and {result.html} ({result.points} images)")


@cli.command()
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("-n", "count", type=int, default=1000, show_default=True, help="Number of images.")
@click.option("--size", type=int, default=64, show_default=True, help="Image side in pixels.")
@click.option("--seed", type=int, default=0, show_default=True, help="Dataset seed.")
def shapes(folder, count, size, seed):
    """Generate the procedural shapes dataset (with labels.csv) into FOLDER."""
    from latentfx.datasets.shapes import write_dataset

    if count < 1 or size < 8:
        raise click.BadParameter("-n must be >= 1 and --size >= 8")
    bar = ProgressBar("shapes")
    try:
        labels = write_dataset(folder, count, seed=seed, size=size, progress=bar)
    finally:
        bar.close()
    click.echo(f"wrote {count} images and {labels}")


@cli.command()
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--chars", default="A-Z", show_default=True,
              help="Characters to draw: ASCII letters and digits, ranges allowed (A-Za-z0-9). "
                   "Each becomes a 0/1 label column char_<c>.")
@click.option("--copies", type=int, default=1, show_default=True,
              help="Images per face and character; copies differ by --jitter.")
@click.option("--jitter", type=float, default=None,
              help="Seeded scale, shift and rotation per copy: 1 is +-8%, +-6% of the side "
                   "and +-3 degrees, 0 none [default: 1 with several copies, else 0].")
@click.option("--fonts", type=click.Choice(["matplotlib", "all"]), default="matplotlib",
              show_default=True,
              help="matplotlib: the 21 faces matplotlib ships (DejaVu, STIX, Computer "
                   "Modern); all: also those of pip install 'latentfx[fonts]'.")
@click.option("--size", type=int, default=64, show_default=True, help="Image side in pixels.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the jitter.")
def glyphs(folder, chars, copies, jitter, fonts, size, seed):
    """Draw letters of real typefaces into FOLDER, with labels.csv (character, bold, italic,
    serif, mono, family): black on white, centred, one cap height per face."""
    from latentfx.datasets.glyphs import write_dataset

    bar = ProgressBar("glyphs")
    try:
        labels = write_dataset(folder, chars=chars, faces=fonts, copies=copies, jitter=jitter,
                               seed=seed, size=size, progress=bar)
    finally:
        bar.close()
    click.echo(f"wrote {bar.last} images and {labels}")


# -- the render farm: the verbs print what workers.control returns ----------------------------

def farm_store():
    """(settings, job store) from the environment."""
    from workers.control import connect

    return connect()


@cli.command()
@click.option("-n", "limit", type=int, default=30, show_default=True, help="How many jobs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def jobs(limit, as_json):
    """List the farm's recent jobs, newest first."""
    import time

    from workers.control import recent_jobs

    _, store = farm_store()
    rows = recent_jobs(store, limit)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'id':<13}{'kind':<12}{'state':<11}{'progress':>9}  {'age':>7}  worker")
    for r in rows:
        age = "-" if r["created"] is None else _duration(time.time() - r["created"])
        click.echo(f"{r['id']:<13}{r['kind']:<12}{r['state']:<11}{r['progress']:>9.0%}  "
                   f"{age:>7}  {', '.join(r['workers']) or '-'}")


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


@cli.command()
@click.argument("job")
@click.option("--follow", is_flag=True,
              help="Show a live progress bar until the job ends; exit 0 only if it succeeded.")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON: id, state (queued, running, succeeded, failed, cancelled), "
                   "progress (0-1), done, total, eta_seconds, chunks, error, ...")
def status(job, follow, as_json):
    """Show a farm job's state, progress, chunks and last error."""
    from workers import control

    _, store = farm_store()
    if follow:
        summary = follow_job(store, job, bar=not as_json)
    else:
        summary = control.status(store, job)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        print_status(summary)
    if (follow and summary["state"] != "succeeded") or summary["state"] == control.DAMAGED:
        sys.exit(EXIT_INPUT)


def follow_job(store, job: str, *, bar: bool) -> dict:
    """Follow the job until it ends, with a live progress bar if `bar`; its last summary."""
    from workers.control import ENDED, follow

    progress = None
    try:
        for summary in follow(store, job):
            if not bar:
                continue
            progress = progress or ProgressBar(
                f"{summary['kind']} {job}", unit="frame" if summary["kind"] == "walk" else "it")
            c, note = summary["chunks"], summary["note"]
            if note and summary["state"] not in ENDED:  # the job's own count (train: steps)
                progress(note["done"], note["total"], note["message"])
                continue
            progress(summary["done"], summary["total"],
                     summary["state"] if summary["state"] in ENDED else
                     f"{summary['state']}, chunks {c['done']}/{sum(c.values())} done, "
                     f"{c['running']} running")
    finally:
        if progress is not None:
            progress.close()
    return summary


def print_status(summary: dict) -> None:
    if summary["state"] == "damaged":
        click.echo(f"{summary['id']}  damaged: {summary['error']}")
        return
    c = summary["chunks"]
    eta = summary["eta_seconds"]
    click.echo(f"{summary['id']}  {summary['kind']}  {summary['state']}  "
               f"{summary['done']}/{summary['total']} ({summary['progress']:.0%})"
               + (f"  ETA {_duration(eta)}" if eta is not None else ""))
    click.echo("chunks: " + ", ".join(f"{n} {s}" for s, n in c.items() if n)
               + f"; {summary['attempts']} attempt(s)")
    note = summary["note"]
    if note:  # the job's own account: a training run's step and loss
        click.echo(f"at {note['done']}/{note['total']}: {note['message']}")
    if summary["output"]:
        click.echo(f"output: {summary['output']}  (copy it back: latentfx fetch "
                   f"{summary['id']} -o DIR)")
    if summary["error"]:
        click.echo(f"last error: {summary['error']}")


@cli.command()
@click.argument("job")
def cancel(job):
    """Cancel a farm job: queued chunks never start, running ones stop at the next frame."""
    from workers import control

    done = control.cancel(*farm_store(), job)
    if done.already_ended:
        click.echo(f"job {job} has already ended ({done.already_ended}); nothing to cancel")
    else:
        click.echo(f"cancelled {job}: {done.revoked} queued chunk(s) will not start; running chunks "
                   f"stop at their next frame")


@cli.command()
@click.argument("job")
def retry(job):
    """Re-queue a farm job's failed and cancelled chunks (finished chunks are kept)."""
    from workers import control

    try:
        done = control.retry(*farm_store(), job)
    except control.JobStillRunning as exc:
        raise click.UsageError(str(exc)) from None
    if done.nothing_to_do:
        click.echo(f"job {job} succeeded; nothing to retry")
    else:
        click.echo(f"re-queued {len(done.chunks)} chunk(s) of {job}")


@cli.command()
@click.option("--older-than", "days", type=click.FloatRange(min=0), required=True,
              help="Days since the job ended (0: every ended job).")
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
def purge(days, dry_run):
    """Remove finished farm jobs: their records, frames and staged inputs (outputs stay);
    queued and running jobs are never touched."""
    from workers.lifecycle import purge as remove_finished

    settings, store = farm_store()
    done = remove_finished(store, settings.storage_root(), older_than_days=days,
                           dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for job in done.jobs:
        click.echo(f"{verb} job {job}")
    for path in done.paths:
        click.echo(f"{verb} {path}")
    click.echo(f"{verb} {len(done.jobs)} job(s) and {len(done.paths)} folder(s) or model(s)")


@cli.command()
@click.argument("job")
@click.option("-o", "--output", "folder", required=True, type=click.Path(file_okay=False),
              help="Folder to copy the job's outputs and manifests into (created if needed).")
def fetch(job, folder):
    """Copy a finished farm job's outputs and manifests back from the storage root."""
    from workers.control import fetch as copy_outputs

    _, store = farm_store()
    for destination in copy_outputs(store, job, folder):
        click.echo(f"fetched {destination}")


@cli.command()
@click.option("--queues", default="gpu,cpu", show_default=True,
              help="Queues to take jobs from, comma-separated (gpu, cpu).")
@click.option("-c", "--concurrency", type=int, default=1, show_default=True,
              help="Jobs at once, one process each; each process takes its own GPU "
                   "(round robin over CUDA_VISIBLE_DEVICES or the machine's GPUs).")
@click.option("-n", "--name", default=None, help="Worker name (default: latentfx@HOSTNAME).")
@click.option("--loglevel", default="INFO", show_default=True, help="Celery log level.")
def worker(queues, concurrency, name, loglevel):
    """Run a farm worker with the project's settings (until Ctrl-C)."""
    import socket

    from workers.app import QUEUES
    from workers.control import run_worker
    from workers.settings import from_environment

    chosen = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = [q for q in chosen if q not in QUEUES]
    if unknown or not chosen:
        raise click.BadParameter(f"unknown queue(s) {unknown}; use {', '.join(QUEUES)}",
                                 param_hint="--queues")
    run_worker(from_environment(), queues=chosen, concurrency=concurrency,
               name=name or f"latentfx@{socket.gethostname()}", loglevel=loglevel)


@cli.command()
def doctor():
    """Show the farm settings found in the environment and check Redis, storage and workers."""
    from workers.control import (answering_workers, marker_problem, redis_problem,
                                 redis_safety, refused_items)
    from workers.settings import ConfigError, from_environment

    try:
        settings = from_environment()
    except ConfigError as exc:
        click.echo(f"settings:   PROBLEM: {exc}")
        sys.exit(EXIT_INPUT)
    problems = 0
    click.echo(f"redis:      {settings.redacted_url()}")
    problem = redis_problem(settings)
    problems += problem is not None
    click.echo(f"            PROBLEM: {problem}" if problem else "            answers")
    try:
        click.echo(f"storage:    {settings.storage_root()}")
    except ConfigError as exc:
        problems += 1
        click.echo(f"storage:    PROBLEM: {exc}")
    click.echo(f"limits:     soft {settings.soft_limit:g} s < hard {settings.hard_limit:g} s < "
               f"visibility {settings.visibility_timeout:g} s; {settings.max_attempts} "
               f"deliveries per chunk; {settings.chunk_frames} frames per chunk")
    if not problems:
        checks = {**redis_safety(settings), "marker": marker_problem(settings)}
        for name, (ok, what) in checks.items():
            click.echo(f"{name + ':':<11} {'' if ok else 'PROBLEM: '}{what}")
            problems += not ok
        count, newest = refused_items(settings)
        click.echo(f"refused:    {count} malformed message(s) or record(s) kept in lfx:dead"
                   + (f"; newest: {newest[0]['reason']}" if newest else ""))
        names = answering_workers(settings)
        click.echo(f"workers:    {', '.join(names) if names else 'none answering right now'}")
    sys.exit(EXIT_INPUT if problems else EXIT_OK)


def main() -> None:
    cli(prog_name="latentfx")


if __name__ == "__main__":
    main()
