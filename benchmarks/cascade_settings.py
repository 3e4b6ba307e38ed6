"""Cost and face recall of the OpenCV cascades (``concepts.detectors``) at other scale steps.

For each setting: CPU ms per image of ``DetectorSource`` on N crops of the bundled photos (256-512 px, one
OpenCV thread), and on scikit-image's ``lfw_subset`` (100 faces, 100 non-faces): the face score's recall
and false-alarm rate at 0.5, its AUROC, the profile cascade's AUROC and recall, and the scores of the
astronaut's face and of the cat (``chelsea``) on the cat-face cascade.

    python benchmarks/cascade_settings.py          # 1.2 (shipped) vs 1.3 for the secondary passes
    python benchmarks/cascade_settings.py --steps 1.2:1.2 1.25:1.25 1.3:1.3
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from contextlib import contextmanager

import cv2
import numpy as np
import skimage.data
from sklearn.metrics import roc_auc_score

from tellapart.concepts import detectors
from tellapart.synth.pools import bundled_pool


@contextmanager
def _steps(primary: float, secondary: float) -> Iterator[None]:
    """Run the block with the frontal pass at scale step ``primary`` and the others at ``secondary``."""
    original = detectors._run

    def run(gray: np.ndarray, spec: detectors.CascadeSpec) -> list:
        rects, _, weights = detectors._cascade(spec.filename).detectMultiScale3(
            gray, scaleFactor=primary if spec.primary else secondary, minNeighbors=0, minSize=spec.min_size,
            outputRejectLevels=True)
        if len(rects) == 0:
            return []
        return detectors._group(np.asarray(rects), np.asarray(weights, dtype=np.float64).ravel())

    detectors._run = run
    try:
        yield
    finally:
        detectors._run = original


def measure(primary: float, secondary: float, photos: list, faces: list, others: list) -> str:
    """Return one line of figures for the scale steps ``primary`` / ``secondary``."""
    source = detectors.DetectorSource()
    labels = [1] * len(faces) + [0] * len(others)
    with _steps(primary, secondary):
        source._score_one(photos[0])
        started = time.process_time()
        for pixels in photos:
            source._score_one(pixels)
        cost = (time.process_time() - started) / len(photos) * 1000
        yes = np.array([source._score_one(x) for x in faces])
        no = np.array([source._score_one(x) for x in others])
        astronaut = source._score_one(skimage.data.astronaut())[0]
        cat = source._score_one(skimage.data.chelsea())[4]
    face_auroc = roc_auc_score(labels, np.r_[yes[:, 0], no[:, 0]])
    profile_auroc = roc_auc_score(labels, np.r_[yes[:, 2], no[:, 2]])
    return (f"steps {primary}/{secondary}: {cost:5.1f} CPU ms per photo; lfw face recall "
            f"{np.mean(yes[:, 0] >= 0.5):.2f}, false alarms {np.mean(no[:, 0] >= 0.5):.2f}, AUROC "
            f"{face_auroc:.3f}; profile AUROC {profile_auroc:.3f}, recall {np.mean(yes[:, 2] >= 0.5):.2f}; "
            f"astronaut face {astronaut:.2f}; chelsea cat face {cat:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=120, help="photo crops for the cost (default 120)")
    parser.add_argument("--steps", nargs="+", default=["1.2:1.2", "1.2:1.3"],
                        help="primary:secondary scale steps, each measured twice, alternating")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    photos = bundled_pool(args.n, seed=0, min_side=256, max_side=512)
    lfw = skimage.data.lfw_subset()
    faces = [(x * 255).astype(np.uint8) for x in lfw[:100]]
    others = [(x * 255).astype(np.uint8) for x in lfw[100:]]
    for _ in range(2):
        for step in args.steps:
            primary, secondary = (float(v) for v in step.split(":"))
            print(measure(primary, secondary, photos, faces, others), flush=True)


if __name__ == "__main__":
    main()
