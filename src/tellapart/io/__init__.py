"""Image sets and safe decoding: folders, globs, lists and manifests in; RGB uint8 arrays out."""

from tellapart.io.decode import (
    ANALYSIS_MAX_SIDE,
    MAX_PIXELS,
    UnreadableImage,
    array_to_rgb,
    decode_bytes,
    decode_object,
)
from tellapart.io.hashing import array_hash, content_hash
from tellapart.io.image import DecodedImage, Skipped
from tellapart.io.imageset import IMAGE_EXTENSIONS, ImageRef, ImageSet, LoadedImage

__all__ = [
    "ANALYSIS_MAX_SIDE",
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "DecodedImage",
    "ImageRef",
    "ImageSet",
    "LoadedImage",
    "Skipped",
    "UnreadableImage",
    "array_hash",
    "array_to_rgb",
    "content_hash",
    "decode_bytes",
    "decode_object",
]
