"""AdamW state to and from flat tensors, so it can live in a safetensors checkpoint."""

from __future__ import annotations

import torch

PREFIX = "optim."


def optimizer_tensors(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    out = {}
    for index, state in opt.state_dict()["state"].items():
        for name, value in state.items():
            out[f"{PREFIX}{index}.{name}"] = torch.as_tensor(value).clone()
    return out


def load_optimizer_tensors(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    template = opt.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if not key.startswith(PREFIX):
            continue
        index, name = key[len(PREFIX):].split(".", 1)
        state.setdefault(int(index), {})[name] = value
    template["state"] = state
    opt.load_state_dict(template)
