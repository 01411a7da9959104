"""The optimisation loop. Everything that varies per step is a pure function of (seed, step),
so a resumed run continues exactly where an uninterrupted one would be."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch

from latentfx.models import VAE
from latentfx.training.data import TrainingImages
from latentfx.models.vector import label_loss
from latentfx.training.loss import kl_weight, vae_loss
from latentfx.training.distributed import SINGLE, Ranks, any_across, mean_across
from latentfx.training.precision import Precision

LOG_EVERY = 10  # steps per row of the loss history (and per read-back from the device)
FP32 = Precision(None, False)


@dataclass
class TrainOptions:
    steps: int
    batch: int = 16
    lr: float = 2e-3
    beta: float = 1e-4
    kl_warmup: int = 500
    seed: int = 0
    fit: str = "center-crop"
    augment: str = "flip"
    save_every: int = 500
    label_weight: float = 0.0  # of the guide labels' loss (latentfx/models/vector.py)

    def to_dict(self) -> dict:
        d = asdict(self)
        if not d["label_weight"]:
            del d["label_weight"]  # an unguided run's record reads as it did before guidance
        return d


@dataclass
class TrainState:
    step: int = 0
    history: list[list[float]] = field(default_factory=list)  # [step, loss, recon, kl]
    seconds: float = 0.0  # optimisation wall time over all sessions of the run
    images_seen: int = 0
    starts: list[int] = field(default_factory=list)  # the step each session began at


def learning_rate(step: int, *, lr: float, steps: int) -> float:
    """Linear warm-up (100 steps, or 5% of a short run), then cosine decay to 10% of lr."""
    warmup = min(100, max(1, steps // 20))
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, steps - warmup))
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def make_optimizer(model: VAE, lr: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=0.0)


class ForcedStop(KeyboardInterrupt):
    """A second Ctrl-C: stop at once, without saving (the last periodic save stands)."""


@contextlib.contextmanager
def deferred_interrupt(signals=(signal.SIGINT,)):
    """While training, the first Ctrl-C only raises a flag, checked between steps, so the
    checkpoint saved on the way out is never taken in the middle of an optimiser update."""
    flag = {"set": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag  # signals can only be handled in the main thread: nothing to defer
        return

    def handler(signum, frame):
        if flag["set"]:
            raise ForcedStop
        flag["set"] = True

    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _stop_signals(ranks: Ranks) -> tuple:
    # torchrun's launcher passes a Ctrl-C on to its processes as SIGTERM, and sends SIGTERM
    # to the rest when one fails: several processes save on it as on Ctrl-C.
    return (signal.SIGINT,) if ranks.world == 1 else (signal.SIGINT, signal.SIGTERM)


def train_steps(model: VAE, opt: torch.optim.Optimizer, data: TrainingImages,
                options: TrainOptions, state: TrainState, *, device: torch.device,
                on_save: Callable[[TrainState], None], workers: int = 0,
                precision: Precision = FP32, forward: Callable | None = None,
                log_every: int = LOG_EVERY, ranks: Ranks = SINGLE,
                progress: Callable[[int, int, str], None] | None = None,
                cancel: Callable[[], bool] | None = None) -> TrainState:
    """Run from state.step to options.steps, calling on_save every save_every steps and at
    the end. Ctrl-C saves first and then raises KeyboardInterrupt; cancel() saves and returns
    early (state.step < options.steps tells the caller). `workers` processes decode;
    `forward` is the model's forward pass (a torch.compile of it; default: the model).

    The loss terms stay on the device and are read back once per `log_every` steps (one
    history row), so the host never waits for the device in between; the progress message
    shows the latest row. With several processes (`ranks`), each trains on its share of
    every global batch, the rows are averaged over the processes, and a stop is agreed at a
    row (`_Stops`), where the processes wait for each other anyway."""
    model.train()
    state.starts.append(state.step)
    stepper = _Stepper(model, opt, options, device, precision,
                       model if forward is None else forward,
                       share=ranks.share(options.batch) if ranks.world > 1 else None)
    stream = data.loader(batch=options.batch, start_step=state.step, workers=workers,
                         pin=device.type == "cuda", rank=ranks.rank, world=ranks.world)
    window = _Window(device, ranks)
    with deferred_interrupt(_stop_signals(ranks)) as interrupted:
        stops = _Stops(interrupted, cancel, ranks, device, every=log_every)
        try:
            for step in range(state.step, options.steps):
                stop = stops(step)
                if stop == "interrupt":
                    raise KeyboardInterrupt
                if stop == "cancel":
                    break
                x, labels, bad = next(stream)
                data.files.found_bad.update(bad)
                started = time.perf_counter()
                window.add(stepper(x.to(device, non_blocking=True,
                                        memory_format=torch.channels_last),
                                   labels.to(device, non_blocking=True), step))
                state.step = step + 1
                state.images_seen += x.shape[0] * ranks.world  # the global batch
                if state.step % log_every == 0 or state.step == options.steps:
                    state.history.append([state.step, *window.gather()])  # the one sync
                state.seconds += time.perf_counter() - started
                if progress:
                    progress(state.step, options.steps, _message(state.history))
                if state.step % options.save_every == 0 and state.step < options.steps:
                    on_save(state)
        except ForcedStop:
            raise
        except KeyboardInterrupt:
            _flush(state, window)
            on_save(state)
            raise
    _flush(state, window)
    on_save(state)
    return state


def _flush(state: TrainState, window: "_Window") -> None:
    """A stop between rows: the steps since the last row make a row of their own."""
    if window.count:
        state.history.append([state.step, *window.gather()])


def _message(history: list[list[float]]) -> str:
    if not history:
        return "loss (first row after a few steps)"
    _, total, recon, kl = history[-1]
    return f"loss {total:.5f} mse {recon:.5f} kl {kl:.4f}"


class _Stops:
    """Whether to stop before `step`: "interrupt" (Ctrl-C), "cancel", or None. One process
    looks before every step; several agree at each history row (and at the first step)."""

    def __init__(self, interrupted: dict, cancel, ranks: Ranks, device, *, every: int):
        self.interrupted, self.cancel, self.ranks = interrupted, cancel, ranks
        self.device, self.every, self.first = device, every, True

    def __call__(self, step: int) -> str | None:
        if self.ranks.world > 1 and not (self.first or step % self.every == 0):
            return None
        self.first = False
        if any_across(self.interrupted["set"], self.ranks, self.device):
            return "interrupt"
        cancelled = bool(self.cancel and self.cancel())
        return "cancel" if any_across(cancelled, self.ranks, self.device) else None


class _Window:
    """Sums of the loss terms since the last history row, kept on the device."""

    def __init__(self, device: torch.device, ranks: Ranks):
        self.sums = torch.zeros(3, device=device)
        self.count, self.ranks = 0, ranks

    def add(self, terms) -> None:
        self.sums += torch.stack([terms.total.detach().float(), terms.recon, terms.kl])
        self.count += 1

    def gather(self) -> list[float]:
        means = mean_across(self.sums / self.count, self.ranks).tolist()  # the one wait
        self.sums.zero_()
        self.count = 0
        return means


class _Stepper:
    """One optimisation step; what does not change between steps is made once."""

    def __init__(self, model, opt, options: TrainOptions, device, precision: Precision,
                 forward, *, share: tuple[int, int] | None = None):
        self.model, self.opt, self.options, self.forward = model, opt, options, forward
        self.share = share  # with several processes: this one's rows of the global batch
        self.device, self.precision = device, precision
        self.generator = torch.Generator(device=device)  # reseeded per step, made once
        self.scaler = precision.scaler(device)

    def __call__(self, x: torch.Tensor, labels: torch.Tensor, step: int):
        options = self.options
        for group in self.opt.param_groups:
            group["lr"] = learning_rate(step, lr=options.lr, steps=options.steps)
        # The posterior noise of step k depends only on (seed, k): resume-exact, and the same
        # whatever the number of processes (each takes its rows of the global batch's).
        self.generator.manual_seed(options.seed * 1_000_033 + step)
        extra = {"share": self.share} if self.share else {}
        with self.precision.autocast(self.device):
            recon, posterior = self.forward(x, generator=self.generator, **extra)
        beta = kl_weight(step, beta=options.beta, warmup=options.kl_warmup)
        terms = vae_loss(x, recon, posterior, beta=beta)
        head = getattr(self.model, "label_head", None)
        if head is not None and options.label_weight > 0:
            # Added to the total only: the history keeps its reconstruction and KL columns.
            guide = options.label_weight * label_loss(head, posterior.mean, labels)
            terms = dataclasses.replace(terms, total=terms.total + guide)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(terms.total).backward()
        self.scaler.unscale_(self.opt)  # clip the true gradients (a no-op unless fp16)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.scaler.step(self.opt)
        self.scaler.update()
        return terms
