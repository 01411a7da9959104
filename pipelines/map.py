"""map: a latent store laid out in 2-D (PCA, or t-SNE) by what its pictures show
(`--features`: pooled encoder features by default, the latents, or an open_clip embedding),
drawn with image thumbnails and coloured by a label or by sub-folder; plus a self-contained
HTML page (no server) where hovering a picture shows its file name."""

from __future__ import annotations

import base64
import html
import io
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from latentfx.errors import InputError
from latentfx.io.outputs import IMAGE_OUTPUTS, check_output_file
from latentfx.options import DEFAULT_FEATURES, check_features
from pipelines.specs import FEATURES, Spec, input_path, output_path

METHODS = ("pca", "tsne")
THUMB = 48  # pixels, in both the PNG and the HTML page
FOLDER = "folder"  # --color-by: each top-level sub-folder its own colour


@dataclass
class MapSpec(Spec):
    store: str = input_path(store_images=True)
    output: str = output_path()
    html: str | None = output_path(None)  # default: OUTPUT with .html
    method: str = "pca"
    color_by: str | None = None   # a label of the store or FOLDER (default: see _colour_by)
    thumbs: int = 200             # at most this many thumbnails on the PNG (all in HTML)
    folder: str | None = input_path(None)  # where the store's images are now, if moved
    seed: int = 0
    features: str = input_path(DEFAULT_FEATURES, form=FEATURES)  # latentfx/features/space.py
    device: str = "auto"          # where clip:DIR runs (the store's own features need no model)

    def validate(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"--method must be one of {', '.join(METHODS)}, got {self.method!r}")
        check_features(self.features)
        if self.thumbs < 0:
            raise InputError(f"--thumbs must be 0 or more, got {self.thumbs}")
        check_output_file(self.output, suffixes=IMAGE_OUTPUTS)
        check_output_file(self.html_path, suffixes={".html": "HTML"})

    @property
    def html_path(self) -> str:
        return self.html or str(Path(self.output).with_suffix(".html"))


@dataclass
class MapResult:
    output: Path
    html: Path
    points: int
    explained: list[float] | None  # PCA: variance explained by the two axes
    features: str = ""             # what was laid out (FeatureSpace.key)


def run(spec: MapSpec, *, progress: Callable[[int, int, str], None] | None = None,
        cancel: Callable[[], bool] | None = None) -> MapResult:
    from latentfx.features.space import feature_space
    from latentfx.io.manifests import write_manifest
    from latentfx.latents.queries import image_folder
    from latentfx.latents.stores import LatentStore

    spec.validate()
    started = time.perf_counter()
    store = LatentStore.load(spec.store)
    if len(store) < 3:
        raise InputError(f"{spec.store}: a map needs at least 3 images, the store has {len(store)}")
    folder = image_folder(store, spec.store, spec.folder)
    space = feature_space(store, spec.features, folder=folder, store_path=spec.store,
                          device=spec.device, progress=progress)
    xy, explained = _project(space.points, spec)
    colours, legend = _colours(store, spec.color_by)
    thumbs = [_thumbnail(folder / p) for p in store.paths]
    _draw_png(xy, colours, legend, thumbs, spec)
    _write_html(xy, store.paths, thumbs, colours, spec)
    write_manifest(spec.output, job="map", spec=asdict(spec), model_id=store.model_id, inputs=[],
                   timings={"seconds": round(time.perf_counter() - started, 3)},
                   results={"points": len(store), "explained_variance": explained,
                            "features": space.key})
    return MapResult(Path(spec.output), Path(spec.html_path), len(store), explained,
                     space.key)


def _project(x, spec: MapSpec):
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    if spec.method == "pca":
        pca = PCA(n_components=2, random_state=spec.seed)
        return pca.fit_transform(x), [round(float(v), 4) for v in pca.explained_variance_ratio_]
    perplexity = min(30.0, (len(x) - 1) / 3)
    tsne = TSNE(n_components=2, init="pca", random_state=spec.seed, perplexity=perplexity)
    return tsne.fit_transform(x), None


def _colours(store, color_by: str | None):
    """A colour per point from one label, or from each point's sub-folder, and the legend
    entries."""
    name = _colour_by(store, color_by)
    if name is None:
        return ["#3b6ea5"] * len(store), []
    if name == FOLDER:
        values = [p.split("/")[0] if "/" in p else "(top level)" for p in store.paths]
        return _palette(values, lambda v: v)
    if name not in store.attributes:
        raise InputError(f"--color-by {name!r}: the store's labels are "
                         f"{', '.join(store.attributes) or 'none'}; or colour by {FOLDER}")
    values = store.labels[:, store.attributes.index(name)].tolist()
    return _palette(values, lambda v: f"{name} = {v:g}")


def _colour_by(store, color_by: str | None) -> str | None:
    """What colours the points when --color-by is not given: the sub-folders when the labels
    are one per sub-folder (encode --folder-labels: the first label alone would only split
    the first folder from the rest), else the first label, else nothing."""
    from latentfx.latents.label_tables import folder_labels

    if color_by or not store.attributes:
        return color_by
    names, rows = folder_labels(store.paths)
    if names == store.attributes and store.labels.tolist() == rows:
        return FOLDER
    return store.attributes[0]


def _palette(values: list, label):
    """(a colour per value, legend entries (label(level), colour) for the first ten)."""
    import matplotlib

    levels = sorted(set(values))
    palette = matplotlib.colormaps["tab10" if len(levels) <= 10 else "viridis"]
    rank = {v: i / max(1, len(levels) - 1) if len(levels) > 10 else i for i, v in
            enumerate(levels)}
    hexes = [matplotlib.colors.to_hex(palette(rank[v])) for v in values]
    legend = [(label(v), matplotlib.colors.to_hex(palette(rank[v]))) for v in levels[:10]]
    return hexes, legend


def _thumbnail(path: Path):
    """A small RGB PIL image of the file, or None if it cannot be read (moved or damaged)."""
    from latentfx.errors import BadFile
    from latentfx.images.loading import load_image

    try:
        image = load_image(path, at_least=(THUMB, THUMB))
    except BadFile:
        return None
    image.thumbnail((THUMB, THUMB))
    return image


def _draw_png(xy, colours, legend, thumbs, spec: MapSpec) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    from latentfx.io.atomic import atomic_path
    from latentfx.io.outputs import image_format

    fig, ax = plt.subplots(figsize=(12, 12), dpi=100)
    ax.scatter(xy[:, 0], xy[:, 1], c=colours, s=12)
    shown = np.linspace(0, len(xy) - 1, min(spec.thumbs, len(xy))).round().astype(int)
    for i in sorted(set(shown.tolist())):
        if thumbs[i] is not None:
            box = OffsetImage(np.asarray(thumbs[i]), zoom=0.6)
            ax.add_artist(AnnotationBbox(box, xy[i], frameon=True, pad=0.1,
                                         bboxprops={"edgecolor": colours[i], "linewidth": 1.5}))
    for label, colour in legend:
        ax.scatter([], [], c=colour, label=label)
    if legend:
        ax.legend(loc="best", fontsize=8)
    ax.set_title(f"{Path(spec.store).name}: {len(xy)} images, {spec.method.upper()}")
    ax.set_xticks([])
    ax.set_yticks([])
    output = Path(spec.output)
    with atomic_path(output) as tmp:
        fig.savefig(tmp, format=image_format(output).lower().replace("jpeg", "jpg"),
                    bbox_inches="tight")
    plt.close(fig)


def _write_html(xy, paths, thumbs, colours, spec: MapSpec) -> None:
    """One file, thumbnails inlined as data URIs: opens from disk in any browser."""
    from latentfx.io.atomic import atomic_path

    low, high = xy.min(0), xy.max(0)
    span = (high - low).clip(min=1e-9)
    items = []
    for (x, y), path, thumb, colour in zip(xy, paths, thumbs, colours):
        left = 20 + (x - low[0]) / span[0] * 1100
        top = 20 + (high[1] - y) / span[1] * 800  # larger y higher up, as on the PNG
        title = html.escape(path, quote=True)
        if thumb is None:
            items.append(f'<div class="dot" title="{title}" style="left:{left:.0f}px;'
                         f'top:{top:.0f}px;background:{colour}"></div>')
            continue
        buffer = io.BytesIO()
        thumb.save(buffer, format="JPEG", quality=80)
        data = base64.b64encode(buffer.getvalue()).decode()
        items.append(f'<img title="{title}" alt="{title}" src="data:image/jpeg;base64,{data}" '
                     f'style="left:{left:.0f}px;top:{top:.0f}px;border-color:{colour}">')
    page = f"""<!doctype html>
<meta charset="utf-8">
<title>{html.escape(Path(spec.store).name)} - latentfx map</title>
<style>
  body {{ font: 14px sans-serif; margin: 0; background: #f4f4f4; }}
  #map {{ position: relative; width: 1180px; height: 880px; margin: 10px auto; background: #fff; }}
  #map img, #map .dot {{ position: absolute; transform: translate(-50%, -50%); }}
  #map img {{ width: 40px; height: 40px; object-fit: cover; border: 2px solid; }}
  #map img:hover {{ width: 128px; height: 128px; z-index: 10; }}
  #map .dot {{ width: 8px; height: 8px; border-radius: 4px; }}
  #name {{ text-align: center; height: 20px; }}
</style>
<p id="name">hover a picture to see its file name</p>
<div id="map">
{chr(10).join(items)}
</div>
<script>
  for (const el of document.querySelectorAll('#map [title]'))
    el.addEventListener('mouseenter', () => document.getElementById('name').textContent = el.title);
</script>
"""
    target = Path(spec.html_path)
    with atomic_path(target) as tmp:
        tmp.write_text(page, encoding="utf-8")
