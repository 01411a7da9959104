"""Whether a walk between two related photographs moves their content or dissolves it.

Three camera moves over real photographs, each a pair of 320x256 views A and B of one
photograph whose true middle view is known:
  pan       B shifted 48 px right and 24 px down from A; the middle: shifted by half;
  zoom      B = A scaled 1.25x about a point off the centre; the middle: scaled 1.125x;
  rotation  B = A turned 8 degrees about that point; the middle: turned 4 degrees.
For each, the walk's middle frame (`latentfx walk A B --frames 2`, default model and path) is
compared with the true middle (PSNR, dB) for the pixel crossfade (--space pixel), the plain
latent walk (--morph none), and the morph (--morph flow), each latent walk with and without
--residual. Targets, as medians over the photographs: the morph >= 26 dB with --residual and
>= 22 dB without on the pan, >= 24 / 20 dB on zoom and rotation.

Then speed at 512x512 on this machine, in one run: the morph's frames/s against the plain
walk's (same pair, same options), without and with --residual (target: the morph costs at most
1.5x the plain walk's time per frame), and the time finding the correspondences takes (once
per pair of keyframes, before the first frame).

Finally vector models: a shape moved across the picture, walked with the bundled `shapes`
model at its own 64x64. Its walk's middle frame against the true middle is compared with the
crossfade's, with the model's reconstruction of the true middle (the most any walk through
its latents can reach), and with the reconstruction of the pixel morph (what guiding its walk
by flow could deliver at best, encoding a morphed picture for every frame).

    python benchmarks/morph.py [--rounds 5] [--frames 48]     # about 8 minutes on 2 cores

Photographs: the bundled cat and cup, plus astronaut, rocket and the left motorcycle view of
scikit-image's sample data when it is installed (`pip install scikit-image`; its images ship
inside the package). All but the motorcycle are in the default model's training set.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

SIZE = (320, 256)               # (width, height) of the views
PAN = (48, 24)                  # B's shift from A, pixels right and down
ZOOM, TURN = 1.25, 8.0          # B's scale and turn (degrees) from A
CENTRE_OFFSET = (0.1, 0.05)     # the zoom's and turn's centre, off the view's centre (of W, H)
TARGETS = {"pan": (26.0, 22.0), "zoom": (24.0, 20.0), "rotation": (24.0, 20.0)}
TARGET_COST = 1.5               # morph time per frame / plain walk time per frame, at most
SPEED_SIDE = 512
WALKS = {  # name -> walk options
    "crossfade": dict(space="pixel"),
    "walk": dict(morph="none"),
    "walk --residual": dict(morph="none", residual=True),
    "morph": dict(morph="flow"),
    "morph --residual": dict(morph="flow", residual=True),
}


def photographs() -> dict[str, np.ndarray]:
    """name -> uint8 (H, W, 3): the bundled samples, and scikit-image's if installed."""
    from latentfx.images.loading import load_image
    from latentfx.models.bundled import sample_images

    photos = {p.stem: np.asarray(load_image(p).convert("RGB")) for p in sample_images()
              if p.stem != "tabby"}  # tabby.jpg is a view cut from chelsea.jpg: no new photo
    try:
        from skimage import data
    except ImportError:
        print("(scikit-image is not installed: the bundled samples only)")
        return photos
    photos["astronaut"] = data.astronaut()
    photos["rocket"] = data.rocket()
    photos["motorcycle"] = data.stereo_motorcycle()[0]
    return photos


def view(photo: np.ndarray, centre: tuple[float, float], *,
         pivot: tuple[float, float] | None = None, scale: float = 1.0, turn: float = 0.0,
         size: tuple[int, int] = SIZE) -> np.ndarray:
    """What a camera pointed at `centre` of the photograph sees once the photograph is
    scaled and turned (degrees) about `pivot` (default: the centre): uint8 (height, width,
    3), bilinear from the photograph itself."""
    import cv2

    width, height = size
    m = cv2.getRotationMatrix2D(pivot or centre, turn, scale)
    m[:, 2] += [width / 2 - centre[0], height / 2 - centre[1]]
    return cv2.warpAffine(photo, m, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)


def camera_moves(photo: np.ndarray, size: tuple[int, int] = SIZE) -> dict:
    """name -> (A, B, true middle) views of the photograph."""
    h, w = photo.shape[:2]
    centre = (w / 2, h / 2)
    # Zoom and turn about a point off the views' centre, so the move is not symmetric.
    pivot = (centre[0] + CENTRE_OFFSET[0] * size[0], centre[1] + CENTRE_OFFSET[1] * size[1])

    def seen(**move) -> np.ndarray:
        return view(photo, centre, pivot=pivot, size=size, **move)

    dx, dy = PAN
    return {
        "pan": (view(photo, (centre[0] - dx / 2, centre[1] - dy / 2), size=size),
                view(photo, (centre[0] + dx / 2, centre[1] + dy / 2), size=size),
                view(photo, centre, size=size)),
        "zoom": (seen(), seen(scale=ZOOM), seen(scale=1 + (ZOOM - 1) / 2)),
        "rotation": (seen(), seen(turn=TURN), seen(turn=TURN / 2)),
    }


def middle_frame(a: Path, b: Path, folder: Path, **options) -> np.ndarray:
    """The middle frame of a three-frame walk from a to b, as written (uint8 PNG)."""
    from latentfx.video.reader import read_frames
    from pipelines import walk

    folder.mkdir()
    walk.run(walk.WalkSpec(keyframes=[str(a), str(b)], output=str(folder) + "/", frames=2,
                           device="cpu", **options))
    return read_frames(folder / "%05d.png")[1]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2) / 255 ** 2
    return float("inf") if mse == 0 else 10 * math.log10(1 / mse)


def meaning(photos: dict, work: Path) -> dict:
    """{move: {walk: [psnr per photograph]}}, printing each photograph's row."""
    from PIL import Image

    scores = {move: {name: [] for name in WALKS} for move in TARGETS}
    print(f"middle frame vs the true middle, PSNR dB ({SIZE[0]}x{SIZE[1]} views)")
    print(f"{'photo':<12}{'move':<10}" + "".join(f"{n:>18}" for n in WALKS))
    for photo_name, photo in photos.items():
        for move, (a, b, middle) in camera_moves(photo).items():
            case = work / f"{photo_name}-{move}"
            case.mkdir()
            Image.fromarray(a).save(case / "a.png")
            Image.fromarray(b).save(case / "b.png")
            row = []
            for name, options in WALKS.items():
                frame = middle_frame(case / "a.png", case / "b.png",
                                     case / name.replace(" ", "").replace("-", ""), **options)
                scores[move][name].append(psnr(frame, middle))
                row.append(scores[move][name][-1])
            print(f"{photo_name:<12}{move:<10}" + "".join(f"{s:>18.2f}" for s in row))
    return scores


def speed(photo: np.ndarray, work: Path, *, frames: int, rounds: int) -> dict:
    """{(residual, morph): render frames/s}, and the seconds before the first frame (model,
    keyframes, correspondences) per morph, at SPEED_SIDE x SPEED_SIDE: the best of `rounds`
    interleaved rounds, as what this machine's other work took least from."""
    from PIL import Image

    from pipelines import walk

    # The photograph enlarged so two views of SPEED_SIDE px panned by PAN fit inside it.
    import cv2

    need = SPEED_SIDE + 2 * max(PAN)
    scale = max(1.0, need / min(photo.shape[:2]))
    big = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    a, b, _ = camera_moves(big, (SPEED_SIDE, SPEED_SIDE))["pan"]
    Image.fromarray(a).save(work / "speed-a.png")
    Image.fromarray(b).save(work / "speed-b.png")
    fps, before = {}, {}
    for r in range(rounds):
        for residual in (False, True):
            for morph in ("none", "flow"):
                result = walk.run(walk.WalkSpec(
                    keyframes=[str(work / "speed-a.png"), str(work / "speed-b.png")],
                    output=str(work / f"speed-{r}-{residual}-{morph}.mp4"),
                    frames=frames - 1, residual=residual, morph=morph, device="cpu"))
                fps.setdefault((residual, morph), []).append(result.frames / result.render_seconds)
                before.setdefault(morph, []).append(result.seconds - result.render_seconds)
    return ({key: max(v) for key, v in fps.items()}, {key: min(v) for key, v in before.items()})


def vector_models() -> dict:
    """{name: [psnr per shape]} for shapes moved across the picture, with the `shapes` model."""
    import torch

    from latentfx.datasets.shapes import factors_for, render
    from latentfx.images.loading import image_to_tensor
    from latentfx.images.resizing import resize
    from latentfx.models.loading import load_model
    from latentfx.walk.correspondence import flow_size
    from latentfx.walk.interpolation import slerp
    from latentfx.walk.morph import Morph

    model, _ = load_model("shapes", device="cpu")
    scores = {"crossfade": [], "vector walk": [], "reconstructed pixel morph": [],
              "reconstructed true middle": []}

    def picture(factors) -> torch.Tensor:
        return image_to_tensor(render(factors, size=64))

    with torch.inference_mode():
        for index in range(8):
            f = factors_for(100_000 + index)
            shift = 0.2 if f.x < 0.5 else -0.2
            a, b = f, type(f)(**{**f.__dict__, "x": f.x + shift})
            middle = type(f)(**{**f.__dict__, "x": f.x + shift / 2})
            pa, pb, pm = picture(a), picture(b), picture(middle)
            za, zb = model.encode(torch.stack([pa, pb])).mode()
            walked = model.decode(slerp(za[None], zb[None], torch.tensor([0.5])))[0]
            # Correspondence measured as walks measure it: at flow_size, whatever the frame.
            pictures = resize(torch.stack([pa, pb]), *flow_size(64, 64))
            motion = Morph.between(pictures, frame=(64, 64), loop=False).motion(
                torch.tensor([0]), torch.tensor([0.5]))
            ma, mb = motion.align(pa[None], pb[None], cell=1.0)
            pixel_morph = (ma + mb) / 2
            scores["crossfade"].append(_psnr_t((pa + pb) / 2, pm))
            scores["vector walk"].append(_psnr_t(walked, pm))
            scores["reconstructed pixel morph"].append(
                _psnr_t(model.reconstruct(pixel_morph)[0], pm))
            scores["reconstructed true middle"].append(_psnr_t(model.reconstruct(pm[None])[0], pm))
    return scores


def _psnr_t(a, b) -> float:
    from latentfx.images.metrics import psnr as tensor_psnr

    return tensor_psnr(a, b)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="speed rounds (best kept)")
    parser.add_argument("--frames", type=int, default=48, help="frames per speed walk")
    args = parser.parse_args()
    import torch

    print(f"torch threads: {torch.get_num_threads()}")
    photos = photographs()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        scores = meaning(photos, work)
        print(f"\nmedians over {len(photos)} photographs")
        print(f"{'move':<10}" + "".join(f"{n:>18}" for n in WALKS) + "   targets (morph, --residual / plain)")
        for move, by_walk in scores.items():
            medians = {name: statistics.median(v) for name, v in by_walk.items()}
            with_res, without = TARGETS[move]
            met = medians["morph --residual"] >= with_res and medians["morph"] >= without
            ok &= met
            print(f"{move:<10}" + "".join(f"{medians[n]:>18.2f}" for n in WALKS)
                  + f"   >= {with_res:g} / {without:g}: {'met' if met else 'MISSED'}")

        fps, before = speed(photos["coffee"], work, frames=args.frames, rounds=args.rounds)
    print(f"\nspeed at {SPEED_SIDE}x{SPEED_SIDE}, {args.frames} frames, best of {args.rounds} "
          f"interleaved rounds (render frames/s; time per frame, morph / plain)")
    for residual in (False, True):
        plain, morph = fps[(residual, "none")], fps[(residual, "flow")]
        cost = plain / morph
        ok &= cost <= TARGET_COST
        label = "with --residual" if residual else "plain"
        print(f"  {label:<16} walk {plain:6.2f} frames/s, morph {morph:6.2f} frames/s: "
              f"{cost:.2f}x per frame (target <= {TARGET_COST:g}x: "
              f"{'met' if cost <= TARGET_COST else 'MISSED'})")
    print(f"  before the first frame (model, keyframes, correspondences): walk "
          f"{before['none']:.2f} s, morph {before['flow']:.2f} s")

    vector = vector_models()
    print("\nvector model `shapes` (64x64), a shape moved by 20% of the picture: middle frame "
          "vs the true middle, PSNR dB, median of 8")
    for name, values in vector.items():
        print(f"  {name:<28}{statistics.median(values):6.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
