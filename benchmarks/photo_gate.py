"""What the photo gate (``concepts.gate``) skips, and what the people models found in what it skips.

On crops of the bundled bench photos (two sizes) and scikit-image's ``lfw_subset``: per P(photo) threshold,
how many images the gate would skip and how many of those the object, face, pose or cascade models (run
ungated) found anything in (a COCO class, pose or cascade at its presence threshold, or a face); then each
skipped image with a person, animal or face found, with its P(photo), so a person can check whether it was
real (``--grid FILE`` writes them as a PNG). Rerun after the domain model changes.

    python benchmarks/photo_gate.py
    python benchmarks/photo_gate.py --grid /tmp/gated.png
"""

from __future__ import annotations

import argparse

import numpy as np
import skimage.data

from tellapart.concepts.detectors import DetectorSource
from tellapart.concepts.faces import FaceSource
from tellapart.concepts.gate import GATE_P, photo_gate
from tellapart.concepts.objects import ObjectSource
from tellapart.concepts.poses import PoseSource
from tellapart.concepts.semantics import SemanticSource
from tellapart.io.decode import decode_object
from tellapart.synth.pools import bundled_pool

THRESHOLDS = (0.5, 0.2, 0.1, 0.05, 0.02, 0.01)
NAMED = ("object.person", "object.cat", "object.dog", "object.horse", "object.bird", "face.count",
         "detector.face", "detector.person_body", "detector.cat_face")


def found_by_models(images: list) -> tuple[np.ndarray, list[list[str]]]:
    """Return (a bool per image: any people-model concept present, the ids present per image)."""
    hits = [[] for _ in images]
    for source in (ObjectSource(), FaceSource(), PoseSource(), DetectorSource()):
        scores = source.score(images)
        for column, concept in enumerate(source.concepts()):
            if concept.kind == "presence":
                present = scores[:, column] >= concept.threshold
            elif concept.id == "face.count":
                present = scores[:, column] > 0
            else:
                continue
            for row in np.flatnonzero(present):
                hits[row].append(concept.id)
    return np.array([bool(h) for h in hits]), hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="crops per size (default 200)")
    parser.add_argument("--grid", default=None, help="write the skipped images with a finding here (PNG)")
    args = parser.parse_args()
    semantic = SemanticSource()
    gate = photo_gate(semantic.embedding_version)
    if gate is None:
        raise SystemExit("no domain model for the backbone's embedding version")
    print(f"domain model {gate.model.version}; the gate runs the models from P(photo) >= {GATE_P}")
    lfw = skimage.data.lfw_subset()
    collections = {
        "bench crops 256-512 px": bundled_pool(args.n, seed=0, min_side=256, max_side=512),
        "bench crops 64-128 px": bundled_pool(args.n, seed=1, min_side=64, max_side=128),
        "lfw_subset faces": [(x * 255).astype(np.uint8) for x in lfw[:100]],
        "lfw_subset non-faces": [(x * 255).astype(np.uint8) for x in lfw[100:]],
    }
    tiles = []
    for name, pixels in collections.items():
        images = [decode_object(p, f"<memory:{i}>", str(i)) for i, p in enumerate(pixels)]
        embeddings = np.concatenate([semantic.score(images[i:i + 32])[1] for i in range(0, len(images), 32)])
        probability = gate.model.photo_probability(embeddings)
        found, hits = found_by_models(images)
        print(f"\n{name}: {len(images)} images, the models found something in {found.sum()}; "
              f"lowest P(photo) {probability.min():.3f}")
        for threshold in THRESHOLDS:
            skipped = probability < threshold
            print(f"  P(photo) < {threshold:<4}: skips {skipped.sum():3d}, "
                  f"with a finding {(skipped & found).sum():3d}")
        for row in np.flatnonzero((probability < GATE_P) & found):
            named = [h for h in hits[row] if h in NAMED]
            if named:
                print(f"    skipped #{row}: P(photo) {probability[row]:.3f}, found {', '.join(named)}")
                words = " ".join(n.split(".")[-1] for n in named)
                tiles.append((pixels[row], f"{probability[row]:.3f} {words}"))
    if args.grid and tiles:
        _write_grid(tiles, args.grid)


def _write_grid(tiles: list[tuple[np.ndarray, str]], path: str) -> None:
    """Write the tiles (RGB image, caption) as a PNG grid of 160 px cells, six per row."""
    import cv2

    cells = []
    for pixels, caption in tiles:
        cell = cv2.resize(np.ascontiguousarray(pixels), (160, 160))
        cell = cell if cell.ndim == 3 else np.repeat(cell[:, :, None], 3, axis=2)
        cv2.putText(cell, caption, (2, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 0, 0), 1)
        cells.append(cell)
    cells += [np.zeros_like(cells[0])] * (-len(cells) % 6)
    grid = np.vstack([np.hstack(cells[i:i + 6]) for i in range(0, len(cells), 6)])
    cv2.imwrite(path, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    print(f"\nwrote {len(tiles)} skipped images with a finding to {path}")


if __name__ == "__main__":
    main()
