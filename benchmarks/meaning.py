"""Whether a vector model's latent space means something, judged by the generator's own labels.

A small classifier is trained on the labelled generator's pictures (label_classifier.py; its
held-out accuracy is printed first, since every other number depends on it). Then, on items
of the generator that the model never saw (another seed than its training data's):
  (a) label accuracy of their reconstructions, per label group (target >= 95% for the shape
      and colour groups: shapes' kind and colour, glyphs' character);
  (b) the share of prior samples the classifier reads with confidence >= 0.9 in every group
      at once, for the N(0, I) prior and, where the model has one, the fitted data prior
      (target >= 80%);
  (c) the share of walk midpoints (t = 0.5 between two items' posterior means, on the slerp
      line and along the data, as `walk --along line|data` takes them) read with confidence
      >= 0.9 in every group: one clean picture, not a ghost of two (target >= 80%); against
      the pixel crossfade's midpoint;
  (d) held-out ROC AUC of each label's attribute vector (centroid difference on 70% of the
      items, scored on the rest, as `latentfx vector`), the lowest label of each group shown
      (target >= 0.95 for shapes' kind and colour, glyphs' character, weight and slant);
  (e) the share of attribute sweeps (held-out items moved by -2..2 times a label's vector,
      as `latentfx apply` moves them: attribute_vectors.moved) along which the classifier's
      score for that label is monotone: no step falls by more than 0.05 and the score rises
      by >= 0.5 from -2 to +2 (target >= 90%, same groups), over 96 items per label.
Beside (b) and (c) stand the shares of real pictures and of reconstructions read confidently
in every group: the most a model can reach with this classifier.

    python benchmarks/meaning.py --model shapes --dataset shapes [--n 600] [--seed 100]
        [--prior normal|data] [--classifier judge-shapes.safetensors] [--pictures DIR]

Two to four minutes on 2 CPU cores at the defaults, most of it training the classifier;
`--classifier FILE` keeps it for the next run. `--pictures DIR` writes contact sheets of
the samples, midpoints and sweeps, each captioned with what the classifier reads: look at
them. The last lines are a markdown table for the README (one row per measure; the tables of
several models can be concatenated).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

PRIORS = ("normal", "data")
TARGET_RECON, TARGET_SAMPLES, TARGET_MIDPOINTS = 0.95, 0.80, 0.80
TARGET_AUC, TARGET_SWEEPS = 0.95, 0.90
STRENGTHS = (-2.0, 2.0, 9)  # sweep from, to, steps
VECTOR_HOLDOUT = 0.3
BATCH = 256
SHEET_ROWS = 16  # at most, in each contact sheet of --pictures


@dataclass
class Sheet:
    """Pictures to look at: (rows, columns, 3, H, W), titled per picture or per column."""
    images: object
    titles: list[str] = field(default_factory=list)


def in_rows(images, *, columns: int):
    """(N, 3, H, W) -> (rows, columns, 3, H, W): as many whole rows as there are, at most
    SHEET_ROWS (one short row when there are fewer pictures than columns)."""
    rows = min(SHEET_ROWS, len(images) // columns)
    if rows == 0:
        return images[None]
    return images[: rows * columns].reshape(rows, columns, *images.shape[1:])


@dataclass
class Measure:
    name: str
    value: float
    target: float | None = None  # passes when value >= target
    percent: bool = True
    note: str = ""               # a baseline or a reference, printed beside the value

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        return "PASS" if self.value >= self.target else "FAIL"

    def shown(self, value: float | None = None) -> str:
        value = self.value if value is None else value
        return f"{value:.0%}" if self.percent else f"{value:.3f}"


# --- the model's side: encode, decode, draw from a prior ------------------------------------

def encoded(model, images):
    """(N, 3, H, W) -> (N, D) posterior means."""
    import torch

    with torch.inference_mode():
        return torch.cat([model.encode(images[i: i + BATCH]).mode().float()
                          for i in range(0, len(images), BATCH)])


def decoded(model, z):
    """(N, D) -> (N, 3, H, W) in [0, 1]."""
    import torch

    with torch.inference_mode():
        return torch.cat([model.decode(z[i: i + BATCH]) for i in range(0, len(z), BATCH)])


def prior_draws(model, n: int, *, prior: str, seed: int):
    """(n, D) latents from the N(0, I) prior or the model's fitted one; a model without a
    fitted prior raises InputError (latentfx.models' sample_prior says so)."""
    import inspect

    import torch

    from latentfx.errors import InputError

    generator = torch.Generator().manual_seed(seed)
    if "prior" in inspect.signature(model.sample_prior).parameters:
        return model.sample_prior(n, generator=generator, prior=prior)
    if prior != "normal":
        raise InputError("this latentfx has no fitted priors (sample_prior takes no prior=)")
    return model.sample_prior(n, generator=generator)


# --- the measures ----------------------------------------------------------------------------

def classifier_measures(dataset, images, labels, probs) -> list[Measure]:
    from meaning_metrics import JOINT, accuracy, confident_share

    right = accuracy(probs, labels)
    sure = confident_share(probs)
    groups = "/".join(f"{g} {right[g]:.1%}" for g in dataset.groups)
    print(f"classifier on {len(images)} held-out generator pictures: {groups}; all "
          f"{right[JOINT]:.1%} right; {sure[JOINT]:.1%} confident in every group")
    return [Measure("classifier: real pictures read right, every group", right[JOINT]),
            Measure("classifier: real pictures confident, every group", sure[JOINT])]


def reconstruction_measures(dataset, probs, labels) -> list[Measure]:
    from meaning_metrics import JOINT, accuracy, confident_share

    right = accuracy(probs, labels)
    out = [Measure(f"(a) reconstructions keep {g}", right[g],
                   TARGET_RECON if g in dataset.recon_targets else None)
           for g in dataset.groups]
    out.append(Measure("(a) reconstructions confident, every group",
                       confident_share(probs)[JOINT]))
    return out


def sample_measures(model, classifier, dataset, *, priors, n: int, seed: int,
                    real_share: float, pictures: dict) -> list[Measure]:
    from meaning_metrics import JOINT, confident_share

    from latentfx.errors import InputError

    out, shares = [], {}
    for prior in priors:
        try:
            z = prior_draws(model, n, prior=prior, seed=seed)
        except InputError as error:
            print(f"(b) {prior} prior: skipped ({error})")
            continue
        samples = decoded(model, z)
        pictures[f"samples-{prior}"] = Sheet(in_rows(samples, columns=8))
        probs = classifier.probabilities(samples)
        shares[prior] = confident_share(probs)
        other = [f"{p} prior {s[JOINT]:.0%}" for p, s in shares.items() if p != prior]
        out.append(Measure(f"(b) {prior}-prior samples confident, every group",
                           shares[prior][JOINT], TARGET_SAMPLES,
                           note=", ".join(other + [f"real pictures {real_share:.0%}",
                                                   coverage(probs, dataset)])))
    return out


def coverage(probs: dict, dataset) -> str:
    """How many classes of each group the confident samples show, and how evenly (the
    entropy of their class counts over its most, log of the class count: 1 is every class
    equally often): samples that are clean but all alike, or that drop a colour, would be a
    poor generator."""
    import math

    from meaning_metrics import confident

    sure, out = confident(probs), []
    for group in dataset.groups:
        classes = len(dataset.classes(group))
        counts = probs[group][sure[group]].argmax(1).bincount(minlength=classes).float()
        share = counts[counts > 0] / counts.sum()
        evenness = float(-(share * share.log()).sum()) / math.log(classes)
        out.append(f"{group} {len(share)}/{classes} evenness {evenness:.2f}")
    return "classes shown: " + ", ".join(out)


def midpoint_measures(model, classifier, images, z, pictures: dict, *,
                      recon_share: float) -> list[Measure]:
    """Pairs (i, i + N/2) of unseen items: the latent walk's midpoint, on the line (slerp) and
    along the data (as `walk --along`), against a crossfade's."""
    import torch

    from meaning_metrics import JOINT, confident_share

    from latentfx.walk.interpolation import slerp

    half = len(z) // 2
    a, b = z[:half], z[half: 2 * half]
    mids = {"line": slerp(a, b, torch.full((half,), 0.5))}
    if hasattr(model, "settled"):  # this latentfx walks vector models along the data
        mids["data"] = along_the_data(model, a, b)
    decoded_mids = {along: decoded(model, m) for along, m in mids.items()}
    pixel_mid = 0.5 * (images[:half] + images[half: 2 * half])
    columns = [images[:half], *decoded_mids.values(), pixel_mid, images[half: 2 * half]]
    pictures["midpoints"] = Sheet(torch.stack(columns, 1)[:SHEET_ROWS],
                                  ["start", *[f"{k} midpoint" for k in decoded_mids],
                                   "crossfade midpoint", "end"])
    pixel = confident_share(classifier.probabilities(pixel_mid))
    out = []
    for along, mid in decoded_mids.items():
        latent = confident_share(classifier.probabilities(mid))
        groups = ", ".join(f"{g} {latent[g]:.0%} (crossfade {pixel[g]:.0%})"
                           for g in latent if g != JOINT)
        print(f"(c) clean midpoints along the {along}, per group: {groups}")
        out.append(Measure(f"(c) walk midpoints clean along the {along}, every group",
                           latent[JOINT], TARGET_MIDPOINTS,
                           note=f"pixel crossfade {pixel[JOINT]:.0%}, reconstructions "
                                f"{recon_share:.0%}"))
    return out


def along_the_data(model, a, b):
    """The midpoints (u = 0.5) of the walks a -> b along the data, as `walk --along data`
    renders them: one walk a[0], b[0], a[1], b[1], ... whose even segments are the pairs."""
    import torch

    from latentfx.walk.data_path import DataPath
    from latentfx.walk.interpolation import KeyframePath

    keys = torch.stack([a, b], 1).reshape(-1, a.shape[1])  # (2N, D)
    path = DataPath(KeyframePath(keys, interp="slerp", loop=False), model)
    with torch.inference_mode():
        return path.at(torch.arange(0, len(keys), 2), torch.full((len(a),), 0.5))


def attribute_directions(dataset, z, labels, *, seed: int) -> tuple[list, object]:
    """[(group, class id, label, vector, held-out score)] for every label, and the held-out
    indices. A two-class group gets one vector (its second class): the other is its negative."""
    from latentfx.latents.attribute_vectors import (centroid_difference, holdout_split,
                                                    separation_score)

    train, held = holdout_split(len(z), VECTOR_HOLDOUT, seed)
    out = []
    for group in dataset.groups:
        names = dataset.classes(group)
        for class_id in range(1 if len(names) == 2 else 0, len(names)):
            has = labels[group] == class_id
            if not (has[train].any() and (~has[train]).any()):
                continue  # too few unseen items carry this label to make its vector
            vector = centroid_difference(z[train], has[train])
            out.append((group, class_id, names[class_id], vector,
                        separation_score(z[held], has[held], vector)))
    return out, held


def vector_measures(dataset, directions) -> list[Measure]:
    out = []
    for group in dataset.groups:
        scored = [(score["auc"], name) for g, _, name, _, score in directions
                  if g == group and score["auc"] is not None]
        if not scored:
            continue
        worst, name = min(scored)
        print(f"(d) {group} AUC: " + ", ".join(f"{n} {auc:.3f}" for auc, n in scored))
        out.append(Measure(f"(d) attribute AUC, {group} (lowest: {name})", worst,
                           TARGET_AUC if group in dataset.vector_targets else None,
                           percent=False))
    return out


def sweep_measures(dataset, model, classifier, z, directions, held, *, bases: int,
                   pictures: dict) -> list[Measure]:
    """Each label's vector swept over held-out items, as `latentfx apply --sweep` moves them;
    the classifier's score for that label."""
    import torch

    from meaning_metrics import is_monotone

    from latentfx.latents.attribute_vectors import moved as moved_by

    strengths = torch.linspace(*STRENGTHS)  # (S,)
    base = z[held[:bases]]  # (K, D)
    prior = model.fitted_prior
    monotone: dict[str, list] = {g: [] for g in dataset.groups}
    strips, titles = [], []
    for group, class_id, name, vector, _ in directions:
        moved = torch.stack([moved_by(b[None], vector, strengths, prior=prior)
                             for b in base])  # (K, S, D)
        swept = decoded(model, moved.reshape(-1, base.shape[1]))  # (K*S, 3, H, W)
        scores = classifier.probabilities(swept)[group][:, class_id].reshape(len(base), -1)
        monotone[group].append(is_monotone(scores))
        first = len(strips) % len(base)  # a different base item for each label, where there are
        strips.append(swept[first * len(strengths): (first + 1) * len(strengths)])
        titles += [f"{name} {float(s):+.1f}" for s in strengths]
    if strips:
        pictures["sweeps"] = Sheet(torch.stack(strips), titles)
    out = []
    for group, results in monotone.items():
        if results:
            out.append(Measure(f"(e) monotone sweeps, {group}", float(torch.cat(results)
                               .float().mean()),
                               TARGET_SWEEPS if group in dataset.vector_targets else None))
    return out


# --- the run ---------------------------------------------------------------------------------

def judge(dataset, *, size: int, n: int, epochs: int, seed: int, saved: Path | None):
    """The label classifier, trained on n generator pictures (or read from `saved`, when it
    was trained there with the same settings; saved there otherwise)."""
    from label_classifier import load_classifier, save_classifier, train_classifier

    classes = {g: len(dataset.classes(g)) for g in dataset.groups}
    settings = {"dataset": dataset.name, "classes": classes, "size": size, "n": n,
                "epochs": epochs, "seed": seed + 1}
    if saved and saved.exists():
        classifier = load_classifier(saved, settings)
        if classifier is not None:
            print(f"classifier read from {saved}")
            return classifier
        print(f"{saved} was trained with other settings: training a new one")
    started = time.perf_counter()
    images, labels = dataset.generate(n, seed=settings["seed"], size=size)
    classifier = train_classifier(images, labels, classes=classes, epochs=epochs, seed=seed)
    print(f"classifier trained on {n} pictures, {epochs} epochs, "
          f"{time.perf_counter() - started:.0f} s")
    if saved:
        save_classifier(saved, classifier, settings)
    return classifier


def save_pictures(folder: Path, dataset, classifier, pictures: dict) -> None:
    """Contact sheets of what was measured, each picture captioned with what the classifier
    reads in it (the top class of each group and its probability): look at them."""
    from latentfx.images.contact_sheets import Cell, contact_sheet

    folder.mkdir(parents=True, exist_ok=True)
    for name, sheet in pictures.items():
        rows, columns = sheet.images.shape[:2]
        flat = sheet.images.reshape(rows * columns, *sheet.images.shape[2:])
        probs = classifier.probabilities(flat)
        titles = sheet.titles * rows if len(sheet.titles) == columns else sheet.titles
        cells = [Cell(flat[i], "\n".join(([titles[i]] if titles else []) + [
            f"{dataset.classes(g)[int(p[i].argmax())].split('_', 1)[-1]} {float(p[i].max()):.2f}"
            for g, p in probs.items()])) for i in range(len(flat))]
        print(f"pictures: {contact_sheet(cells, folder / f'{name}.png', columns=columns)}")


def report(model_name: str, measures: list[Measure]) -> None:
    print()
    for m in measures:
        target = f" (target {m.shown(m.target)}) {m.verdict}" if m.target is not None else ""
        note = f"   [{m.note}]" if m.note else ""
        print(f"{m.name:<58} {m.shown():>7}{target}{note}")
    print("\n| model | measure | measured | target | |\n|---|---|---|---|---|")
    for m in measures:
        target = f">= {m.shown(m.target)}" if m.target is not None else ""
        note = f" ({m.note})" if m.note else ""
        print(f"| {model_name} | {m.name} | {m.shown()}{note} | {target} | {m.verdict} |")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="shapes",
                        help="a bundled vector model's name or a checkpoint path")
    parser.add_argument("--dataset", default="shapes",
                        help="the labelled generator the model was trained on: shapes, glyphs")
    parser.add_argument("--n", type=int, default=600,
                        help="unseen items (reconstructions, vectors, sweeps; half as many "
                             "walk midpoints) and prior samples")
    parser.add_argument("--seed", type=int, default=100,
                        help="seed of the unseen items; the classifier trains on seed+1 and is "
                             "tested on seed+2 (none may be the seed the model trained on)")
    parser.add_argument("--prior", choices=PRIORS, default=None,
                        help="the prior to sample (default: both, the fitted one where the "
                             "model has it)")
    parser.add_argument("--classifier-n", type=int, default=None,
                        help="generator pictures the classifier trains on (default: the "
                             "dataset's, 3000 shapes or 5000 glyphs)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="classifier training epochs (default: the dataset's, 6 or 8)")
    parser.add_argument("--sweep-bases", type=int, default=96,
                        help="held-out items each label's vector is swept over, at most the "
                             "30%% of --n held out from the vectors (a group of one label, such "
                             "as slant, is measured in steps of 1/96: with 32, one sweep moved "
                             "it by 3 points, and one judge trained again moved it by 7)")
    parser.add_argument("--classifier", type=Path, default=None,
                        help="a .safetensors file for the label classifier: read when it was "
                             "trained with the same dataset, size and settings, else trained "
                             "and saved there (default: trained afresh, not kept)")
    parser.add_argument("--pictures", type=Path, default=None,
                        help="folder for captioned contact sheets of the samples, midpoints "
                             "and sweeps")
    args = parser.parse_args(argv)
    if args.n < 20 or (args.classifier_n or 100) < 100 or (args.epochs or 1) < 1 \
            or args.sweep_bases < 1:
        parser.error("--n must be >= 20, --classifier-n >= 100, --epochs and --sweep-bases >= 1")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)

    import torch

    from labelled_data import labelled_dataset
    from meaning_metrics import JOINT, confident_share

    from latentfx.errors import InputError
    from latentfx.models.loading import load_model

    dataset = labelled_dataset(args.dataset)
    model, info = load_model(args.model, device="cpu")
    if model.native_size is None:
        raise InputError(f"--model {args.model}: a spatial model is not a generator; this "
                         f"benchmark measures vector models (e.g. --model shapes)")
    size = model.native_size[0]
    print(f"model {args.model} ({info.model_id[:16]}), dataset {dataset.name} at {size}x{size}, "
          f"{torch.get_num_threads()} CPU threads")

    # 1. The judge: a classifier of the generator's labels, and how well it reads real pictures.
    n_judge = args.classifier_n or dataset.classifier_n
    classifier = judge(dataset, size=size, n=n_judge, epochs=args.epochs or
                       dataset.classifier_epochs, seed=args.seed, saved=args.classifier)
    test_images, test_labels = dataset.generate(max(200, n_judge // 4), seed=args.seed + 2,
                                                size=size)
    real_probs = classifier.probabilities(test_images)
    measures = classifier_measures(dataset, test_images, test_labels, real_probs)

    # 2. Unseen items, their latents and reconstructions.
    images, labels = dataset.generate(args.n, seed=args.seed, size=size)
    z = encoded(model, images)  # (N, D)
    recon_probs = classifier.probabilities(decoded(model, z))
    measures += reconstruction_measures(dataset, recon_probs, labels)

    # 3. Prior samples, walk midpoints, attribute vectors and their sweeps.
    pictures: dict = {}
    real_share = confident_share(real_probs)[JOINT]
    measures += sample_measures(model, classifier, dataset,
                                priors=[args.prior] if args.prior else PRIORS,
                                n=args.n, seed=args.seed, real_share=real_share,
                                pictures=pictures)
    measures += midpoint_measures(model, classifier, images, z, pictures,
                                  recon_share=confident_share(recon_probs)[JOINT])
    directions, held = attribute_directions(dataset, z, labels, seed=args.seed)
    measures += vector_measures(dataset, directions)
    measures += sweep_measures(dataset, model, classifier, z, directions, held,
                               bases=args.sweep_bases, pictures=pictures)
    if args.pictures:
        save_pictures(args.pictures, dataset, classifier, pictures)
    report(Path(args.model).stem, measures)


if __name__ == "__main__":
    main()
