"""Training in several processes (torch.distributed, as torchrun starts them).

Rules: `--batch` is the global batch, split evenly across the processes (so it must divide
by their number), and the learning rate is the same as with one process: the gradients are
averaged across processes, so a step sees the same images and takes the same gradient as one
process with that batch would. Each process reads its own share of each global batch
(StepBatches' rank slice), so together they cover exactly what one process would, and takes
its rows of the posterior noise one process would draw for the whole batch. What still
differs: the batch statistics of a vector model's mean normalisation are synchronised on
CUDA (SyncBatchNorm) but taken per process on the CPU. Process 0 alone writes the run
folder. The checkpoint holds only global quantities (step, global batch), so a run resumes
under any number of processes.

A stop (Ctrl-C, or torchrun's SIGTERM when another process or the launcher stops) is agreed
between the processes at the next history row, so they all save and leave at the same step
instead of one waiting forever for the others' gradients.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from latentfx.errors import InputError


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local: int = 0  # this process's index on its machine: its GPU

    @property
    def main(self) -> bool:
        return self.rank == 0

    def share(self, batch: int) -> tuple[int, int]:
        """(first row, rows in all) of this process's share of a global batch."""
        return self.rank * batch // self.world, batch


SINGLE = Ranks()


def ranks_from_environment() -> Ranks:
    """The ranks torchrun set in the environment (one process: SINGLE)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    return Ranks(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def start(ranks: Ranks, device: torch.device, *, batch: int) -> torch.device:
    """Join the process group (nccl on CUDA, gloo otherwise); this process's device."""
    if ranks.world == 1:
        return device
    if batch % ranks.world:
        raise InputError(f"--batch {batch} does not split evenly across {ranks.world} "
                         f"processes; the batch is global: choose a multiple of {ranks.world}")
    if device.type == "cuda":
        device = torch.device("cuda", ranks.local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def stop(ranks: Ranks) -> None:
    if ranks.world > 1 and dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: torch.nn.Module, ranks: Ranks, device: torch.device) -> torch.nn.Module:
    """The model whose forward pass averages gradients across the processes."""
    if ranks.world == 1:
        return model
    if device.type != "cuda":
        return torch.nn.parallel.DistributedDataParallel(model)
    # Batch statistics over the global batch, as one process would take them (SyncBatchNorm
    # needs CUDA). The module keeps its parameters, so the checkpoint is unchanged.
    synced = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return torch.nn.parallel.DistributedDataParallel(synced, device_ids=[device.index])


def mean_across(t: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """The mean of `t` over the processes (itself with one)."""
    if ranks.world == 1:
        return t
    t = t.clone()
    dist.all_reduce(t)
    return t / ranks.world


def any_across(flag: bool, ranks: Ranks, device: torch.device) -> bool:
    """Whether `flag` is set in any of the processes (itself with one)."""
    if ranks.world == 1:
        return flag
    t = torch.tensor([float(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


class ProcessesFailed(InputError):
    """One of the processes of a several-process run failed (its error is in the output)."""


def launch(nproc: int, script: str, args: list[str]) -> None:
    """Run `python script *args` in `nproc` processes on this machine, as torchrun would
    (a free port for the group's rendezvous); returns when all are done."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    parsed = get_args_parser().parse_args(
        ["--standalone", "--nproc-per-node", str(nproc), script, *args])
    try:
        run(parsed)
    except ChildFailedError as failed:
        raise ProcessesFailed(f"{len(failed.failures)} of the {nproc} training processes "
                              f"failed (their messages are above)") from None
