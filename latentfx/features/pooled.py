"""Pooled features: what a picture shows, whatever the place it shows it in.

A spatial model's latent is a small picture, so comparing two latents compares two pictures
place by place: a shape moved by a few pixels is as far away as another shape. Here the
activations of one encoder stage are summarised per channel by their mean and their spread
over the whole picture, as texture descriptors do (Gatys et al. 2015; Huang and Belongie's
AdaIN statistics, 2017): which features occur, and how strongly they vary, not where. They
are taken in the same forward pass as the posterior mean, so a store gets them at no extra
cost, and a query gets exactly what a store entry got.

The first stage (half resolution, after the first residual blocks) measured best of the
stages and of their combinations (benchmarks/similarity.py; README, "Similarity"): deeper
stages see larger patches but pool away more of what sets pictures apart.
"""

from __future__ import annotations

import torch

# What a store's pooled features are (recorded in the store; a store made with another
# recipe is encoded again rather than mixed).
RECIPE = {"version": 1, "stage": 0, "statistics": ["mean", "std"]}


@torch.inference_mode()
def encode_pooled(model, pictures: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(posterior means (B, ...), pooled features (B, 2C)) of pictures (B, 3, H, W) already
    fitted like a store's, both float32 on the CPU."""
    captured = []
    hook = model.encoder_stage(RECIPE["stage"]).register_forward_hook(
        lambda _module, _inputs, output: captured.append(output))
    try:
        means = model.encode(pictures.to(model.device)).mode()
    finally:
        hook.remove()
    # One capture per pass through the stage: a model that encodes big pictures in tiles
    # (latentfx/models/foreign/) passes once per tile, and the statistics take them all.
    stage = torch.cat([c.float().flatten(2) for c in captured], dim=2)  # (B, C, h*w)
    pooled = torch.cat([stage.mean(dim=2), stage.std(dim=2, correction=0)], dim=1)
    # Copies of their own: the mean is a view of (mean, log-variance), twice the size.
    return (means.float().cpu().clone(memory_format=torch.contiguous_format),
            pooled.cpu())
