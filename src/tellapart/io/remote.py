"""Images at fsspec URLs (``s3://bucket/set/``, ``gs://b/x/*.png``, ``memory://``, ``file://``...).

A URL is listed and read through `fsspec <https://filesystem-spec.readthedocs.io>`_, an optional extra
(``pip install 'tellapart[remote]'``) imported only when a URL is given: local paths never import it. Each
protocol needs its backend package (``s3fs`` for ``s3://``, ``gcsfs`` for ``gs://``...); a missing one is
named, with what to install, when the set is listed, before any image is read.

Listing reads no image: a folder URL is listed once (``find``), a file URL is checked against its folder's
listing (one ``ls`` per folder, not one request per file; one ``info`` per file where the folder cannot be
listed); only a file without an image's extension is peeked at (132 bytes, for DICOM's preamble), and a
possible DICOM slice's header is read in 64 KiB blocks to group series. Reading (`read_url`) fetches each
file's bytes whole, into memory (no copy on disk), where it is called: on a Ray worker when the run scores
on a cluster.
Credentials and settings come from the backend's own configuration (environment variables, config files,
instance roles), as fsspec finds them.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from typing import Any

from tellapart.io.decode import UnreadableImage
from tellapart.io.image import Skipped
from tellapart.io.printable import printable

INSTALL_HINT = "pip install 'tellapart[remote]'"
# "s3://...", "gs://...", and fsspec's chained form "simplecache::s3://...". A scheme of one letter is a
# Windows drive ("C://x"), not a URL.
_URL = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.\-]+::)*([A-Za-z][A-Za-z0-9+.\-]+)://")
# A URL inside a backend's error message (aiohttp quotes the whole pre-signed URL): shown without its secrets.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>,)]+")
# Why a hidden file or folder is not used (the same for local folders: ``io.imageset`` imports these).
HIDDEN_FILE = "hidden file (its name starts with '.'), not read"
HIDDEN_FOLDER = "hidden folder (its name starts with '.'), not searched"
# Protocols whose paths are names on this machine or in this process: "@" is part of a file's name there,
# while for every other protocol "user:password@" before the host is credentials.
LITERAL_PATHS = frozenset({"file", "local", "memory"})
# Protocols whose URLs carry a query after "?" (a pre-signed URL's signature); everywhere else a "?" is part
# of a key or file name (S3 and GCS keys may hold one: s3://b/scan?1.png).
QUERY_PROTOCOLS = frozenset({"http", "https"})
# A storage error's message is cut to this many characters (`error_detail`): a backend's whole message
# (botocore's "An error occurred (ExpiredToken) when calling the ListObjectsV2 operation: The provided token
# has expired." is 106) fits, a server's HTML error page pasted into the text does not fill the screen.
DETAIL_CHARS = 200
# The block size a DICOM slice's header is fetched in (`open_head`): 64 KiB is one request for the header
# of usual slices (pydicom's test CT_small.dcm has its pixel data at byte 6,288, MR_small.dcm at 1,488),
# and a small share of a 512 x 512 x 16-bit slice's 512 KiB that the series grouping does not need.
HEAD_BLOCK_SIZE = 1 << 16
# What `path_kind` and `url_kinds` say of a path that exists but that these credentials may not see, and
# why such a file is skipped (the reason a local file that may not be read gets from ``io.imageset``).
DENIED = "denied"
PERMISSION_DENIED = "cannot read file: permission denied"


def is_url(value: Any) -> bool:
    """True when ``value`` is text of the form ``PROTOCOL://...`` (a ``pathlib.Path`` never is: it folds
    ``//``)."""
    return isinstance(value, str) and _URL.match(value.strip()) is not None


def shown_url(url: str) -> str:
    """Return ``url`` as results, reports and messages name it: without ``user:password@`` and without its
    query (a pre-signed URL's ``?X-Amz-Signature=...``), which are secrets, not names; the image is still
    read from the whole URL (``ImageRef.url``). The query is cut only where ``?`` starts one
    (`QUERY_PROTOCOLS`); nothing is cut for protocols whose names hold ``@`` literally (`LITERAL_PATHS`)."""
    head, sep, rest = url.partition("://")
    if not sep or _protocols(url)[-1] in LITERAL_PATHS:
        return url
    if has_query(url):
        rest = rest.split("?", 1)[0]
    authority, slash, tail = rest.partition("/")
    return f"{head}://{authority.rpartition('@')[2]}{slash}{tail}"


def url_name(url: str) -> str:
    """Return the file name of ``url`` (``a.png`` for ``https://h/x/a.png?X-Amz-Signature=...``): what its
    extension is read from."""
    return posixpath.basename(shown_url(url).rstrip("/"))


def has_query(url: str) -> bool:
    """True when a ``?`` in ``url`` starts a query: on http(s) (`QUERY_PROTOCOLS`); in object stores' keys
    (``s3://b/scan?1.png``) and local names a ``?`` is part of the name."""
    return _protocols(url)[-1] in QUERY_PROTOCOLS


def url_protocol(url: str) -> str:
    """Return the protocol of ``url`` (``"s3"`` for ``s3://b/k``; the outer one of a chained URL)."""
    match = _URL.match(url.strip())
    if match is None:
        raise ValueError(f"{printable(url)!r} is not a URL (PROTOCOL://...)")
    return url.strip().split("::", 1)[0].split("://", 1)[0].lower()


def require_fsspec(url: str) -> Any:
    """Return the ``fsspec`` module; raise ModuleNotFoundError naming what to install when it is missing."""
    try:
        import fsspec
    except ImportError as error:
        raise ModuleNotFoundError(
            f"{printable(url)} is a URL, and reading images from URLs needs fsspec: {INSTALL_HINT} (and the "
            f"package for its protocol, e.g. s3fs for s3://, gcsfs for gs://)"
        ) from error
    return fsspec


def url_filesystem(url: str) -> tuple[Any, str]:
    """Return the fsspec filesystem that holds ``url`` and the path of ``url`` on it.

    Raises ModuleNotFoundError when fsspec, or the backend package of the URL's protocol, is not installed
    (the message says what to pip install), and ValueError for a protocol fsspec does not know."""
    fsspec = require_fsspec(url)
    try:
        return fsspec.core.url_to_fs(url.strip())
    except ImportError as error:
        raise ModuleNotFoundError(_backend_missing(url, error)) from error
    except ValueError as error:
        if "protocol" not in str(error).lower():
            raise
        raise ValueError(f"cannot read {printable(url)}: fsspec does not know its protocol "
                         f"{url_protocol(url)!r} ({error})") from None


def _backend_missing(url: str, error: ImportError) -> str:
    """The message for a URL whose protocol's backend package is missing: which, and what to install."""
    from fsspec.registry import get_filesystem_class, known_implementations

    missing = url_protocol(url)
    for protocol in _protocols(url):  # a chained URL ("simplecache::s3://"): the layer that cannot load
        try:
            get_filesystem_class(protocol)
        except ImportError:
            missing = protocol
            break
        except ValueError:
            continue
    module = known_implementations.get(missing, {}).get("class", "").split(".")[0]
    install = f"pip install {module}" if module and module != "fsspec" else "install the package it names"
    return (f"{printable(url)}: reading {missing}:// URLs needs fsspec's {missing} backend, which is not "
            f"installed ({error}); {install}")


def _protocols(url: str) -> list[str]:
    """The protocols of ``url``, outermost first (``["simplecache", "s3"]`` for ``simplecache::s3://``)."""
    return [part.split("://", 1)[0].lower() for part in url.strip().split("::")]


def error_detail(error: BaseException) -> str:
    """Return ``"TYPE: message"`` for a storage backend's error, on one printable line, its message cut to
    `DETAIL_CHARS` (backends raise their own types: botocore's, google-auth's, aiohttp's...)."""
    message = _URL_IN_TEXT.sub(lambda match: shown_url(match.group(0)), " ".join(str(error).split()))
    return f"{type(error).__name__}: {printable(message)[:DETAIL_CHARS]}"


def to_url(fs: Any, path: str) -> str:
    """Return the URL of ``path`` on ``fs`` (``s3://bucket/key``): the name a remote image goes by."""
    return fs.unstrip_protocol(path)


def read_url(url: str) -> bytes:
    """Return the bytes of the file at ``url``, read whole into memory.

    Raises `UnreadableImage` with a reason a person can act on: the file vanished, is a folder, access was
    denied, the backend is missing where this runs (a Ray worker without s3fs), or the read failed."""
    try:
        fs, path = url_filesystem(url)
    except (ModuleNotFoundError, ValueError) as error:
        raise UnreadableImage(str(error)) from None
    return _read(fs, path)


def read_head(fs: Any, path: str, size: int) -> bytes:
    """Return the first ``size`` bytes of ``path`` on ``fs`` (one ranged read). Raises `UnreadableImage`
    saying why it cannot be read, as `read_url` does."""
    return _read(fs, path, size)


def _read(fs: Any, path: str, size: int | None = None) -> bytes:
    """The bytes of ``path`` on ``fs`` (the first ``size`` of them, or all); `UnreadableImage` with why
    not."""
    try:
        return bytes(fs.cat_file(path) if size is None else fs.cat_file(path, start=0, end=size))
    except FileNotFoundError:
        raise UnreadableImage("file does not exist (moved or deleted after the set was listed)") from None
    except PermissionError:
        raise UnreadableImage(PERMISSION_DENIED) from None
    except IsADirectoryError:
        raise UnreadableImage("this is a folder, not an image file") from None
    except Exception as error:  # a backend's own errors (network, throttling, credentials) differ by package
        raise UnreadableImage(f"cannot read file: {error_detail(error)}") from None


def open_head(url: str, block_size: int = HEAD_BLOCK_SIZE) -> Any:
    """Return ``url`` opened for reading in blocks of ``block_size`` bytes (a DICOM header is read without
    its pixel data); the caller closes it."""
    fs, path = url_filesystem(url)
    return fs.open(path, "rb", block_size=block_size)


def walk_url_folder(fs: Any, root: str) -> tuple[list[str], list[Skipped]]:
    """Return every non-hidden file under the folder ``root`` of ``fs`` (recursively, in `folder_order`) and
    the hidden files and folders (a name starting with ``.``, below ``root``) as skipped, with why."""
    try:
        found = fs.find(root, withdirs=False, detail=False)
    except Exception as error:  # as in `read_url`: backends raise their own errors
        return [], [Skipped(to_url(fs, root), f"cannot list folder: {error_detail(error)}")]
    files: list[str] = []
    hidden: dict[str, str] = {}
    base = root.rstrip("/")
    for path in sorted(found, key=folder_order):
        parts = posixpath.relpath(path, base).split("/") if base else path.split("/")
        dot = next((i for i, part in enumerate(parts) if part.startswith(".")), None)
        if dot is None:
            files.append(path)
        elif dot == len(parts) - 1:
            hidden[path] = HIDDEN_FILE
        else:
            hidden.setdefault(posixpath.join(base, *parts[: dot + 1]), HIDDEN_FOLDER)
    return files, [Skipped(to_url(fs, path), why) for path, why in hidden.items()]


def folder_order(path: str) -> list[str]:
    """The sort key of a path in a folder's listing: its parts, as ``pathlib`` sorts a local folder's files
    (``a/b.png`` before ``a-b/c.png``, which a plain text sort puts first: ``-`` sorts before ``/``), so the
    same files give the same order, hence the same split and findings, on disk and at a URL."""
    return path.split("/")


def glob_url(fs: Any, pattern: str) -> dict[str, str]:
    """Return the paths on ``fs`` that match the glob ``pattern`` (``**`` matches any folders), sorted as
    text as a local glob's matches are (``io.imageset._from_glob``), each with its type ("file" or
    "directory"), from the one listing the glob makes."""
    found = fs.glob(pattern, detail=True)
    return {path: found[path].get("type", "file") for path in sorted(found)}


def url_kinds(fs: Any, paths: Iterable[str]) -> dict[str, str | None]:
    """Return, for each of ``paths`` on ``fs``, what `path_kind` says (``"file"``, ``"directory"``,
    `DENIED` or None for absent), from one listing of each path's folder; where a folder cannot be listed
    (absent, or no list permission, only read), from one ``info`` call per path. Raises OSError naming the
    URL and the backend's error when the storage cannot be asked (network, expired credentials)."""
    by_folder: dict[str, list[str]] = {}
    kinds: dict[str, str | None] = {}
    for path in paths:
        if "?" in path and has_query(to_url(fs, path)):  # a listing names no file with its query
            kinds[path] = path_kind(fs, path)
        else:
            by_folder.setdefault(posixpath.dirname(path.rstrip("/")), []).append(path)
    for folder, members in by_folder.items():
        listed = _listing(fs, folder)
        for path in members:
            kinds[path] = listed.get(_strip(fs, path)) if listed is not None else path_kind(fs, path)
    return kinds


def _listing(fs: Any, folder: str) -> dict[str, str] | None:
    """Name -> type ("file" or "directory") of the entries of ``folder`` on ``fs``; None if it is absent or
    may not be listed (`url_kinds` then asks per file); OSError for any other failure."""
    try:
        entries = fs.ls(folder, detail=True)
    except (FileNotFoundError, PermissionError):
        return None
    except Exception as error:  # backends raise their own errors (botocore's, google-auth's, aiohttp's...)
        raise OSError(f"cannot list {printable(shown_url(to_url(fs, folder)))}: {error_detail(error)}") \
            from error
    return {_strip(fs, entry["name"]): entry.get("type", "file") for entry in entries}


def path_kind(fs: Any, path: str) -> str | None:
    """Return ``"file"``, ``"directory"``, `DENIED` (these credentials may not see it) or None (absent) for
    ``path`` on ``fs``, from one ``info`` call. Raises OSError naming the URL and the backend's error for
    any other failure (network, expired credentials): not reported as a file that does not exist."""
    try:
        return "directory" if fs.info(path).get("type") == "directory" else "file"
    except FileNotFoundError:
        return None
    except PermissionError:
        return DENIED
    except Exception as error:  # backends raise their own errors (botocore's, google-auth's, aiohttp's...)
        raise OSError(f"cannot read {printable(shown_url(to_url(fs, path)))}: {error_detail(error)}") \
            from error


def _strip(fs: Any, path: str) -> str:
    """``path`` as ``fs`` names it in listings (no protocol, no trailing slash)."""
    return fs._strip_protocol(path).rstrip("/") or fs.root_marker


def url_folder(url: str) -> str:
    """Return the URL of the folder that holds ``url`` (``s3://b/x/`` for ``s3://b/x/m.csv``)."""
    return url[: url.rstrip("/").rfind("/") + 1]


def join_url(folder: str, relative: str) -> str:
    """Return the relative path ``relative`` resolved against the folder URL ``folder``, ``.`` and ``..``
    folded (never above the URL's root: ``s3://b/../x`` is ``s3://x``, as fsspec reads it)."""
    protocol, _, rest = folder.partition("://")
    return _folded(protocol, posixpath.join(rest, relative), rest.startswith("/"))


def local_path(url: str) -> str | None:
    """Return the path on this machine that ``url`` names when its filesystem is the local one
    (``file://``, ``local://``, also under a cache layer: ``simplecache::file://``), else None (other
    protocols are not imported)."""
    inner = url.strip().split("::")[-1]  # the layer that holds the files
    if _protocols(inner)[0] not in ("file", "local"):
        return None
    from fsspec.implementations.local import LocalFileSystem

    fs, path = url_filesystem(inner)
    return path if isinstance(fs, LocalFileSystem) else None


def url_inside(url: str, folder: str) -> bool:
    """True when ``url`` (``.`` and ``..`` folded) lies inside the folder URL ``folder`` (``memory:///d/x``
    and ``memory://d/x`` name the same file, as fsspec reads them)."""
    protocol, _, rest = folder.partition("://")
    base = _folded(protocol, rest, rooted=False).rstrip("/") + "/"
    own_protocol, _, own = url.partition("://")
    return _folded(own_protocol, own, rooted=False).startswith(base)


def _folded(protocol: str, path: str, rooted: bool) -> str:
    """``PROTOCOL://PATH`` with ``.`` and ``..`` folded; ``rooted`` keeps the path's leading ``/``."""
    folded = posixpath.normpath("/" + path.lstrip("/")).lstrip("/")
    return f"{protocol}://{'/' if rooted else ''}{folded}"
