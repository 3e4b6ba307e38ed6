"""Base pools of real images that install with the package's dependencies (no downloads)."""

from __future__ import annotations

import numpy as np

# Sample photographs shipped inside scikit-image's wheel (others there need a download and are left out).
SKIMAGE_COLOUR = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field",
                  "colorwheel", "retina", "cat")
SKIMAGE_GRAY = ("camera", "brick", "grass", "gravel", "moon", "coins", "horse", "clock", "cell", "page", "text")


def source_images(include_gray: bool = True) -> list[np.ndarray]:
    """Return the bundled source photographs as RGB uint8 arrays (scikit-image and scikit-learn samples)."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    names = SKIMAGE_COLOUR + (SKIMAGE_GRAY if include_gray else ())
    images = [_to_rgb(getattr(skimage.data, name)()) for name in names]
    images += [_to_rgb(img) for img in load_sample_images().images]
    return images


def bundled_pool(n: int, seed: int = 0, min_side: int = 96, max_side: int = 256,
                 include_gray: bool = True) -> list[np.ndarray]:
    """Return ``n`` distinct random crops (RGB uint8) of the bundled photographs, deterministic for ``seed``.

    Each crop takes a random source image, a random square-ish window of 30-90% of its shorter side, and
    resizes it so its longer side is between ``min_side`` and ``max_side`` pixels.
    """
    from PIL import Image

    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if not 16 <= min_side <= max_side:
        raise ValueError(f"need 16 <= min_side <= max_side, got {min_side}, {max_side}")
    rng = np.random.default_rng(seed)
    sources = source_images(include_gray)
    crops = []
    for _ in range(n):
        src = sources[rng.integers(len(sources))]
        h, w = src.shape[:2]
        side = int(min(h, w) * rng.uniform(0.3, 0.9))
        ch = int(np.clip(side * rng.uniform(0.8, 1.25), 16, h))
        cw = int(np.clip(side * rng.uniform(0.8, 1.25), 16, w))
        y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        target = int(rng.integers(min_side, max_side + 1))
        scale = target / max(ch, cw)
        size = (max(16, round(cw * scale)), max(16, round(ch * scale)))
        crop = Image.fromarray(src[y : y + ch, x : x + cw]).resize(size, Image.Resampling.BILINEAR)
        crops.append(np.asarray(crop))
    return crops


def _to_rgb(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    if img.shape[-1] == 4:
        img = img[..., :3]
    return np.ascontiguousarray(img.astype(np.uint8))
