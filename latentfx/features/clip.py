"""An open_clip image embedding kept in a local folder (`--features clip:DIR`), never
downloaded: the folder is open_clip's `local-dir:` layout, `open_clip_config.json` (with a
`model_cfg`) beside `open_clip_model.safetensors`. open_clip itself is optional
(`pip install "latentfx[clip]"`).

Nothing in the folder is unpickled: a folder holding pickled weights (.bin, .pt, .pth, ...)
is refused before open_clip sees it, since open_clip would fall back to loading them, and so
is a configuration that would fetch weights from a hub (a pretrained timm or Hugging Face
tower). Pictures go through latentfx's own loader, then the model's own preprocessing
(resize, centre crop, normalisation), and their embeddings are compared by angle.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

from latentfx.errors import InputError

CONFIG = "open_clip_config.json"
WEIGHTS = "open_clip_model.safetensors"
PICKLED = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
BATCH = 32


def check_clip_folder(folder: str | os.PathLike) -> Path:
    """The folder, if it holds an open_clip model latentfx will load; else an InputError that
    says what is wrong and what to do. Reads only the config (no open_clip, no torch)."""
    from latentfx.io.safetensors_files import check_safetensors

    root = Path(folder)
    layout = f"an open_clip model folder holds {CONFIG} and {WEIGHTS}"
    if not root.is_dir():
        raise InputError(f"--features clip:{folder}: no such folder ({layout})")
    pickled = sorted(p.name for p in root.iterdir() if p.suffix.lower() in PICKLED)
    if pickled:
        raise InputError(f"{root / pickled[0]}: pickled weights are refused (unpickling a file "
                         f"can run any code in it); keep the weights as {WEIGHTS} "
                         f"(safetensors) and remove {', '.join(pickled)} from the folder")
    missing = [name for name in (CONFIG, WEIGHTS) if not (root / name).is_file()]
    if missing:
        raise InputError(f"{root}: no {' or '.join(missing)} ({layout}; latentfx never "
                         f"downloads one)")
    check_safetensors(root / WEIGHTS, what="open_clip weights file")
    _check_config(root / CONFIG)
    return root


def _check_config(path: Path) -> None:
    try:
        model_cfg = json.loads(path.read_text(encoding="utf-8"))["model_cfg"]
        vision, text = model_cfg.get("vision_cfg", {}), model_cfg.get("text_cfg", {})
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise InputError(f"{path}: not an open_clip config with a `model_cfg` ({error})") \
            from None
    # open_clip would fetch these towers' weights from a hub when the model is built.
    if vision.get("timm_model_pretrained") or \
            (text.get("hf_model_name") and text.get("hf_model_pretrained", True)):
        raise InputError(f"{path}: this config asks for pretrained tower weights from a hub "
                         f"(timm_model_pretrained / hf_model_name); latentfx loads only the "
                         f"folder's own {WEIGHTS}: set them to false or remove them")


class ClipEmbedder:
    """The image tower of the open_clip model in `folder`, on `device`."""

    def __init__(self, folder: str | os.PathLike, *, device: str = "auto"):
        from latentfx.io.safetensors_files import file_sha256
        from latentfx.runtime.devices import pick_device

        root = check_clip_folder(folder)
        try:
            import open_clip
        except ImportError:
            raise InputError("--features clip:DIR needs open_clip, which is optional: "
                             "pip install \"latentfx[clip]\"") from None
        self.device = pick_device(device)
        try:
            self.model, _, self.preprocess = open_clip.create_model_and_transforms(
                f"local-dir:{root}", device=self.device)
        except (OSError, ValueError, RuntimeError, KeyError, TypeError) as error:
            raise InputError(f"{root}: open_clip could not build its model ({error})") from None
        self.model.eval()
        self.model_id = file_sha256(root / WEIGHTS)

    def embed(self, paths: list[str | os.PathLike], *,
              progress: Callable[[int, int, str], None] | None = None) -> np.ndarray:
        """(N, D) float32 unit-length embeddings of the pictures at `paths`; a file that does
        not load raises BadFile, naming it."""
        import torch

        from latentfx.images.loading import load_image

        out = []
        with torch.inference_mode():
            for start in range(0, len(paths), BATCH):
                chunk = paths[start: start + BATCH]
                pictures = torch.stack([self.preprocess(load_image(p)) for p in chunk])
                features = self.model.encode_image(pictures.to(self.device)).float()
                out.append(torch.nn.functional.normalize(features, dim=-1).cpu().numpy())
                if progress:
                    progress(start + len(chunk), len(paths), "clip embeddings")
        return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)
