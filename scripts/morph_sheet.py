"""Render the README's picture of a morph beside the dissolve it replaces: the bundled cat
walked to a closer, turned view of it (`latentfx/samples/tabby.jpg`) on the default model,
once with --morph none and once with --morph flow, five frames of each, rendered at the
walk's default size (the photo's, 450x300) and shown smaller.

    python scripts/morph_sheet.py docs/morph.png
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FRAMES = 5          # shown per walk, from keyframe to keyframe
SHOWN = (180, 120)  # (width, height) of each frame on the sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="The sheet (.png).")
    args = parser.parse_args()

    import torch

    from latentfx.images.contact_sheets import Cell, contact_sheet
    from latentfx.images.resizing import resize
    from latentfx.video.reader import read_frames
    from pipelines import walk

    samples = ROOT / "latentfx" / "samples"
    keys = [str(samples / "chelsea.jpg"), str(samples / "tabby.jpg")]
    cells = []
    with tempfile.TemporaryDirectory() as tmp:
        for morph, label in (("none", "dissolve (--morph none)"), ("flow", "morph (--morph flow)")):
            folder = Path(tmp) / morph
            walk.run(walk.WalkSpec(keyframes=keys, output=f"{folder}/", frames=FRAMES - 1,
                                   residual=True, morph=morph, device="cpu"))
            for i, frame in enumerate(read_frames(folder / "%05d.png")):
                picture = resize(torch.from_numpy(frame).permute(2, 0, 1).float() / 255,
                                 SHOWN[1], SHOWN[0])
                caption = f"{label}\n{i}/{FRAMES - 1}" if i == 0 else f"\n{i}/{FRAMES - 1}"
                cells.append(Cell(picture, caption))
    contact_sheet(cells, args.output, columns=FRAMES)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
