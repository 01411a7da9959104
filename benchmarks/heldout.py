"""Real photographs that the default model never saw in training, found in installed packages
(so nothing is downloaded): two from scikit-learn, one from matplotlib, one from scikit-image
that is not in the default model's training list."""

from __future__ import annotations

from pathlib import Path


def heldout_photographs() -> dict[str, Path]:
    import matplotlib.cbook
    import sklearn.datasets
    import skimage.data

    sklearn_images = Path(sklearn.datasets.__file__).parent / "images"
    return {
        "china.jpg (scikit-learn)": sklearn_images / "china.jpg",
        "flower.jpg (scikit-learn)": sklearn_images / "flower.jpg",
        "grace_hopper.jpg (matplotlib)": Path(matplotlib.cbook.get_sample_data(
            "grace_hopper.jpg", asfileobj=False)),
        "motorcycle_left.png (scikit-image)": Path(skimage.data.__file__).parent / "motorcycle_left.png",
    }
