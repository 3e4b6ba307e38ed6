"""tellapart: tell two sets of images apart in plain language, and prove every claim.

    >>> import tellapart
    >>> result = tellapart.describe("set_a/", "set_b/")
    >>> result.findings          # a pandas DataFrame, significant findings first
    >>> result.to_html("report.html")
    >>> tellapart.failures("predictions.csv")   # what the images a model gets wrong have in common
"""

import os

__version__ = "0.1.0"

# onnxruntime (OCR, people and object models) otherwise writes a telemetry database and a device id under
# ~/.cache/Microsoft and a session file in $TMPDIR the moment it is imported: nothing may be written outside
# the folders a user named. Set before any onnxruntime import; a user who sets it first keeps their choice.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from tellapart.concepts.library import ConceptLibrary, default_sources  # noqa: E402
from tellapart.describe import TooFewImagesError, describe, verify  # noqa: E402
from tellapart.failures import Failures, failures  # noqa: E402
from tellapart.io import ImageSet  # noqa: E402
from tellapart.schema import Result  # noqa: E402

__all__ = ["ConceptLibrary", "Failures", "ImageSet", "Result", "TooFewImagesError", "__version__",
           "default_sources", "describe", "failures", "verify"]
