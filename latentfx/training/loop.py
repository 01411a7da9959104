"""The optimisation loop. Everything that varies per step is a pure function of (seed, step),
so a resumed run continues exactly where an uninterrupted one would be."""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch

from latentfx.models import VAE
from latentfx.training.data import TrainingImages
from latentfx.training.loss import kl_weight, vae_loss

LOG_EVERY = 10  # steps per row of the loss history


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

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainState:
    step: int = 0
    history: list[list[float]] = field(default_factory=list)  # [step, loss, recon, kl]
    seconds: float = 0.0  # optimisation wall time over all sessions of the run
    images_seen: int = 0


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
def deferred_interrupt():
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

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def train_steps(model: VAE, opt: torch.optim.Optimizer, data: TrainingImages,
                options: TrainOptions, state: TrainState, *, device: torch.device,
                on_save: Callable[[TrainState], None], workers: int = 0,
                progress: Callable[[int, int, str], None] | None = None,
                cancel: Callable[[], bool] | None = None) -> TrainState:
    """Run from state.step to options.steps, calling on_save every save_every steps and at
    the end. Ctrl-C saves first and then raises KeyboardInterrupt; cancel() saves and returns
    early (state.step < options.steps tells the caller). `workers` processes decode."""
    model.train()
    stream = data.loader(batch=options.batch, start_step=state.step, workers=workers,
                         pin=device.type == "cuda")
    window: list[tuple[float, float, float]] = []
    with deferred_interrupt() as interrupted:
        try:
            for step in range(state.step, options.steps):
                if interrupted["set"]:
                    raise KeyboardInterrupt
                if cancel and cancel():
                    break
                x, bad = next(stream)
                data.files.found_bad.update(bad)
                started = time.perf_counter()
                terms = _one_step(model, opt, x.to(device, non_blocking=True,
                                                   memory_format=torch.channels_last),
                                  options, step)
                state.seconds += time.perf_counter() - started
                state.step, state.images_seen = step + 1, state.images_seen + x.shape[0]
                _record(state, window, terms, options)
                if progress:
                    progress(state.step, options.steps,
                             f"loss {terms.total:.5f} mse {terms.recon:.5f} kl {terms.kl:.4f}")
                if state.step % options.save_every == 0 and state.step < options.steps:
                    on_save(state)
        except ForcedStop:
            raise
        except KeyboardInterrupt:
            on_save(state)
            raise
    on_save(state)
    return state


def _record(state: TrainState, window: list, terms, options: TrainOptions) -> None:
    """Average the loss terms over LOG_EVERY steps into one history row."""
    window.append((float(terms.total.detach()), terms.recon, terms.kl))
    if state.step % LOG_EVERY == 0 or state.step == options.steps:
        state.history.append([state.step, *map(_mean, zip(*window))])
        window.clear()


def _one_step(model: VAE, opt: torch.optim.Optimizer, x: torch.Tensor,
              options: TrainOptions, step: int):
    for group in opt.param_groups:
        group["lr"] = learning_rate(step, lr=options.lr, steps=options.steps)
    # The posterior noise of step k depends only on (seed, k): resume-exact.
    g = torch.Generator(device=x.device).manual_seed(options.seed * 1_000_033 + step)
    recon, posterior = model(x, generator=g)
    beta = kl_weight(step, beta=options.beta, warmup=options.kl_warmup)
    terms = vae_loss(x, recon, posterior, beta=beta)
    opt.zero_grad(set_to_none=True)
    terms.total.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return terms


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)
