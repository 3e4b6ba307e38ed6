"""The bundled people, pose, face and object models (ONNX, from the npm package ``@vladmandic/human``), run
with onnxruntime, with the pre- and post-processing ``human`` applies to each.

``scripts/convert_human_models.py`` made the files in ``tellapart/data/human/`` (``PROVENANCE.md`` there
has their source, hashes and how closely they reproduce the originals). Each model gets one session,
created on first use and shared by every source. Coordinates are returned as fractions of the image's
width and height, so they compare across image sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from threading import Lock

import cv2
import numpy as np

MODEL_NAMES = ("centernet", "movenet-lightning", "blazeface", "faceres", "emotion")

# The 80 COCO classes in CenterNet's output order (``human/src/object/labels.ts``).
COCO_LABELS = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)
# MoveNet's 17 keypoints, in output order.
KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle",
)
# The emotion model's 7 classes (oarriaga/face_classification, FER2013 order; ``human/src/gear/emotion.ts``).
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

CENTERNET_SIDE = 512  # fixed by the graph (its upsampling sizes are constants)
MOVENET_SIDE = 192
BLAZEFACE_SIDE = 256
FACERES_SIDE = 224
EMOTION_SIDE = 64
# Non-maximum suppression as ``human`` configures it: objects at IoU 0.4, faces at IoU 0.1 (BlazeFace
# returns several overlapping anchors per face).
OBJECT_IOU = 0.4
FACE_IOU = 0.1
# Candidates below these scores are dropped before suppression: they never reach any concept's threshold
# and keep the suppression cheap (CenterNet returns its top 100, BlazeFace scores 896 anchors).
OBJECT_MIN_SCORE = 0.1
FACE_MIN_SCORE = 0.3
# ``human`` enlarges BlazeFace's box by 1.4 before cropping the face for its attribute models.
FACE_CROP_SCALE = 1.4


def model_dir() -> Path:
    """Return the folder of the bundled ONNX files."""
    return Path(str(files("tellapart") / "data" / "human"))


def model_path(name: str) -> Path:
    """Return the path of one bundled model (``MODEL_NAMES``)."""
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; use one of {MODEL_NAMES}")
    return model_dir() / f"{name}.onnx"


_session_lock = Lock()


def make_session(path: Path, threads: int = 1, initializers: dict | None = None):
    """Return an onnxruntime CPU session of the model at ``path`` with ``threads`` intra-op threads.

    ``initializers`` maps initializer names to ``onnxruntime.OrtValue``s that supply weights the file marks
    as external (``semantics.GRAPH_FILE``); onnxruntime copies them while it makes the session. Threads never
    spin: the models run beside other sources on few cores, where a spinning thread takes a core from them.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if initializers:
        options.add_external_initializers(list(initializers), list(initializers.values()))
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@cache
def _session(name: str):
    # One thread per session: these sources run beside the others (``background``) on few cores, where a
    # second thread per call bought nothing (centernet 512 px: 58 ms with 1 thread, 2 cores).
    return make_session(model_path(name), threads=1)


def session(name: str):
    """Return the shared onnxruntime session of one bundled model, created on first use."""
    with _session_lock:
        return _session(name)


@dataclass(frozen=True)
class Box:
    """A detection: ``(x, y, width, height)`` as fractions of the image, its score and its class index."""

    x: float
    y: float
    width: float
    height: float
    score: float
    label: int = 0

    @property
    def area(self) -> float:
        """The box's share of the image's area."""
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        """The box's centre (x, y) as fractions of the image."""
        return self.x + self.width / 2, self.y + self.height / 2

    def contour(self) -> np.ndarray:
        """Return the box as a closed (5, 2) contour of (x, y) image fractions, clipped to the image."""
        x0, y0, x1, y1 = self.x, self.y, self.x + self.width, self.y + self.height
        return np.clip(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], np.float64), 0.0, 1.0)


def _resize(pixels: np.ndarray, side: int) -> np.ndarray:
    """Return the image resized to side x side, float32, as ``human`` does it (TF.js ``resizeBilinear``
    without half-pixel centres: output pixel i samples input position i * in / out, no antialiasing).
    Checked against ``human`` itself (Node, wasm backend) on the astronaut: CenterNet's person box and
    score agree to 3 decimals, MoveNet's keypoint confidences to 0.01 (OpenCV's half-pixel sampling moved
    them by up to 0.05), BlazeFace's score to 0.01."""
    height, width = pixels.shape[:2]
    ys, xs = np.arange(side) * (height / side), np.arange(side) * (width / side)
    y0, x0 = np.floor(ys).astype(np.intp), np.floor(xs).astype(np.intp)
    y1, x1 = np.minimum(y0 + 1, height - 1), np.minimum(x0 + 1, width - 1)
    fy, fx = (ys - y0).astype(np.float32)[:, None, None], (xs - x0).astype(np.float32)[None, :, None]
    image = pixels.reshape(height, width, -1)
    rows = image[y0] * (1 - fy) + image[y1] * fy  # bilinear is separable: rows first, then columns
    return rows[:, x0] * (1 - fx) + rows[:, x1] * fx


def pad_square(pixels: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Return (the image zero-padded to a centred square, (left, top) padding in pixels)."""
    height, width = pixels.shape[:2]
    side = max(height, width)
    left, top = (side - width) // 2, (side - height) // 2
    out = np.zeros((side, side, 3), dtype=pixels.dtype)
    out[top:top + height, left:left + width] = pixels
    return out, (left, top)


def nms(boxes: list[Box], iou: float) -> list[Box]:
    """Return the boxes that survive greedy non-maximum suppression at ``iou``, best first."""
    kept: list[Box] = []
    for box in sorted(boxes, key=lambda b: -b.score):
        if all(_iou(box, other) < iou for other in kept):
            kept.append(box)
    return kept


def _iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a.x + a.width, b.x + b.width) - max(a.x, b.x))
    iy = max(0.0, min(a.y + a.height, b.y + b.height) - max(a.y, b.y))
    inter = ix * iy
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def detect_objects(pixels: np.ndarray) -> list[Box]:
    """Return CenterNet's COCO detections on an RGB uint8 image (score >= ``OBJECT_MIN_SCORE``, after
    suppression across classes at ``OBJECT_IOU``), best first. The image is stretched to 512 x 512 as
    ``human`` does; boxes come back as fractions of the image."""
    x = _resize(pixels, CENTERNET_SIDE)[None]
    sess = session("centernet")
    rows = sess.run(["tower_0/detections"], {sess.get_inputs()[0].name: x})[0][0]
    boxes = [
        Box(x0 / CENTERNET_SIDE, y0 / CENTERNET_SIDE, (x1 - x0) / CENTERNET_SIDE, (y1 - y0) / CENTERNET_SIDE,
            float(score), int(label))
        for x0, y0, x1, y1, score, label in rows
        if score >= OBJECT_MIN_SCORE and np.isfinite(label)
    ]
    return nms(boxes, OBJECT_IOU)


def body_keypoints(pixels: np.ndarray) -> np.ndarray:
    """Return MoveNet's 17 keypoints of the main person as a (17, 3) array of (x, y, confidence), x and y
    as fractions of the image (the image is zero-padded to a square first, as ``human`` does)."""
    square, (left, top) = pad_square(pixels)
    x = _resize(square, MOVENET_SIDE).astype(np.int32)[None]  # truncates, as tf.cast does
    sess = session("movenet-lightning")
    out = sess.run(None, {sess.get_inputs()[0].name: x})[0].reshape(17, 3)
    side = square.shape[0]
    height, width = pixels.shape[:2]
    return np.stack([(out[:, 1] * side - left) / width, (out[:, 0] * side - top) / height, out[:, 2]],
                    axis=1).astype(np.float32)


@cache
def _blazeface_anchors() -> np.ndarray:
    """BlazeFace's 896 anchor centres in input pixels: 16 x 16 cells x 2, then 8 x 8 cells x 6."""
    anchors = []
    for stride, per_cell in ((16, 2), (32, 6)):
        cells = BLAZEFACE_SIDE // stride
        for gy in range(cells):
            for gx in range(cells):
                anchors += [(stride * (gx + 0.5), stride * (gy + 0.5))] * per_cell
    return np.asarray(anchors, np.float32)


def detect_faces(pixels: np.ndarray) -> list[Box]:
    """Return BlazeFace's faces on an RGB uint8 image (score >= ``FACE_MIN_SCORE``, suppressed at
    ``FACE_IOU``), best first, as fractions of the image. The image is zero-padded to a square and
    resized to 256 px; the score is the sigmoid of the anchor's logit."""
    square, (left, top) = pad_square(pixels)
    x = (_resize(square, BLAZEFACE_SIDE) / 127.5 - 1.0)[None]
    sess = session("blazeface")
    outputs = sorted(sess.run(None, {sess.get_inputs()[0].name: x}), key=lambda a: a.size)
    # As ``human`` reads them: by size, the 384 and 512 anchors' logits, then their 16 regressors.
    logits = np.concatenate([outputs[1], outputs[0]], axis=1)[0, :, 0]
    regress = np.concatenate([outputs[3], outputs[2]], axis=1)[0]
    candidates = np.flatnonzero(logits >= np.log(FACE_MIN_SCORE / (1 - FACE_MIN_SCORE)))
    side = square.shape[0]
    height, width = pixels.shape[:2]
    anchors = _blazeface_anchors()
    boxes = []
    for i in candidates:
        cx, cy = regress[i, 0:2] + anchors[i]
        w, h = regress[i, 2:4]
        scale = side / BLAZEFACE_SIDE
        x0, y0 = (cx - w / 2) * scale - left, (cy - h / 2) * scale - top
        boxes.append(Box(x0 / width, y0 / height, w * scale / width, h * scale / height,
                         float(1 / (1 + np.exp(-logits[i])))))
    return nms(boxes, FACE_IOU)


def face_crop(pixels: np.ndarray, face: Box, side: int) -> np.ndarray:
    """Return the face's box, enlarged by ``FACE_CROP_SCALE`` and made square (as ``human`` crops for its
    attribute models), cut from the image (black outside it) and resized to side x side, RGB uint8."""
    height, width = pixels.shape[:2]
    cx, cy = face.center
    half = FACE_CROP_SCALE * max(face.width * width, face.height * height) / 2
    x0, y0 = round(cx * width - half), round(cy * height - half)
    size = max(1, round(2 * half))
    crop = np.zeros((size, size, 3), np.uint8)
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(width, x0 + size), min(height, y0 + size)
    if sx1 > sx0 and sy1 > sy0:
        crop[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = pixels[sy0:sy1, sx0:sx1]
    return cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA if size > side else cv2.INTER_LINEAR)


def face_attributes(crops: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Return (age probabilities (n, 100), one bin per year of apparent age; expression probabilities
    (n, 7) in ``EMOTIONS`` order) for RGB uint8 face crops from ``face_crop`` (any size)."""
    if not crops:
        return np.zeros((0, 100), np.float32), np.zeros((0, len(EMOTIONS)), np.float32)
    rgb = np.stack([_resize(c, FACERES_SIDE) for c in crops])
    sess = session("faceres")
    age = sess.run(["age_pred/Softmax:0"], {sess.get_inputs()[0].name: rgb})[0]
    small = np.stack([_resize(c, EMOTION_SIDE) for c in crops]) / 255.0
    gray = small @ np.array([0.2989, 0.587, 0.114], np.float32)
    sess = session("emotion")
    emotion = sess.run(None, {sess.get_inputs()[0].name: ((gray - 0.5) * 2.0)[..., None]})[0]
    return age.astype(np.float32), emotion.astype(np.float32)


def weight_files(*names: str) -> list[Path]:
    """Return the ONNX files of the named models (for a source's ``weight_files``)."""
    return [model_path(name) for name in names]
