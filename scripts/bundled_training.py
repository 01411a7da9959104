"""Shared by the scripts that train the bundled models: resume-or-start and a progress bar."""

from __future__ import annotations

import time
from pathlib import Path


def train_recipe(*, images: Path, output: Path, steps: int, recipe: dict) -> None:
    """Train (or resume) `output` from `images` with the fixed `recipe`, on the CPU."""
    from pipelines import train
    from tqdm import tqdm

    spec = train.TrainSpec(folder=str(images), output=str(output), steps=steps, device="cpu",
                           **recipe)
    # Re-running continues the run (the recipe is fixed, so its saved settings are the same).
    spec.resume = (spec.run_path() / "checkpoint.safetensors").exists()
    bar = tqdm(total=steps, desc=f"train {output.stem}", mininterval=5)

    def progress(done, total, message):
        if message.startswith("loss"):  # skip the image-loading phase
            bar.n = done
            bar.set_postfix_str(message, refresh=False)
            bar.refresh()

    started = time.time()
    result = train.run(spec, progress=progress)
    bar.close()
    print(f"{result.steps} steps, {result.images} images, {time.time() - started:.0f} s this "
          f"session, {result.seconds:.0f} s optimising in all, training-batch PSNR "
          f"{result.final_psnr:.2f} dB -> {result.output}")
