"""Image sets: which images make up set A or set B, listed without decoding any of them.

An `ImageSet` comes from a folder, a glob pattern, a file, a list of paths or in-memory images, or one group
of a CSV/Parquet manifest. Files that cannot be used are never dropped silently: they go to ``skipped`` with a
reason, while listing, or raise `UnreadableImage` when they are read.
"""

from __future__ import annotations

import glob
import hashlib
import io
import os
import posixpath
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from tellapart.io.decode import PreparedImage, UnreadableImage, finish_decode, prepare_image
from tellapart.io.dicom import HEAD_SIZE, dicom_header, is_dicom
from tellapart.io.frames import (
    DICOM_SUFFIXES,
    NIFTI_SUFFIXES,
    is_medical_name,
    medical_kind,
    read_frames,
    read_series_frames,
    sample_key,
    series_key,
)
from tellapart.io.hashing import array_hash, content_hash
from tellapart.io.image import DecodedImage, Notice, Skipped
from tellapart.io.printable import printable
from tellapart.io.remote import (
    DENIED,
    DETAIL_CHARS,
    HIDDEN_FILE,
    HIDDEN_FOLDER,
    PERMISSION_DENIED,
    error_detail,
    glob_url,
    has_query,
    is_url,
    join_url,
    local_path,
    open_head,
    path_kind,
    read_head,
    read_url,
    shown_url,
    to_url,
    url_filesystem,
    url_folder,
    url_inside,
    url_kinds,
    url_name,
    walk_url_folder,
)
from tellapart.io.series import find_series, slice_header
from tellapart.io.volume import SLICES_PER_VOLUME, slice_indices

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".gif", ".bmp", ".dib", ".tif", ".tiff",
        ".webp", ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".ico", ".jp2", ".j2k", ".jpx", ".pcx",
        ".heic", ".heif", ".avif",
    }
)  # fmt: skip
PATH_COLUMNS = ("path", "filepath", "file_path", "file", "filename", "file_name", "image", "image_path")
_GLOB_CHARS = frozenset("*?[")
_MANIFEST_READERS = {".csv": ",", ".tsv": "\t", ".parquet": None, ".pq": None}
OUTSIDE_MANIFEST_FOLDER = "outside the manifest's folder, not read (confine is on)"
COUNTED_ONCE = "; counted once"  # the end of the reason of a skipped repeat (``repeat_reason``)
# A subject is scored from at most this many of its images (evenly spaced in manifest order), so its cost
# is bounded: with up to 5 frames per image (`io.volume.SLICES_PER_VOLUME`) at most 100 frames, about 18 s
# with the default library (measured 0.18 s a frame: ``ConceptLibrary().score_sets`` on 100 crops of the
# bundled photographs, 2 cores shared with a running benchmark). The mean of 20 images already has
# 1/sqrt(20) = 22% of one image's spread; a subject's row gains little from more.
MAX_IMAGES_PER_SUBJECT = 20


@dataclass(frozen=True)
class LoadedImage:
    """An image whose bytes have been read and hashed, not yet decoded.

    ``key`` is the content hash: sha256 of the file's bytes (with the medical readers' fingerprint for DICOM
    and NIfTI files, ``io.frames.sample_key``), or of the converted RGB array for in-memory images, so the
    same picture given twice gets the same key. A subject's key is the hash of its images' keys; a DICOM
    series' the hash of all its files' contents in slice order (``io.frames.series_key``).
    """

    ref: ImageRef
    key: str
    _data: bytes | None = field(default=None, repr=False, compare=False)
    _prepared: PreparedImage | None = field(default=None, repr=False, compare=False)
    _parts: tuple[LoadedImage, ...] = field(default=(), repr=False, compare=False)
    _problems: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)
    _left_out: list[Skipped] = field(default_factory=list, repr=False, compare=False)

    @property
    def left_out(self) -> list[Skipped]:
        """The files of a subject or DICOM series that the last ``decode_parts`` (or ``decode_frames``) could
        not use, each with why: the sample was scored from its other files (and is listed as degraded);
        these go to the run's skipped files, so every file that could not be read is named. Empty for a
        sample of one file."""
        return list(self._left_out)

    @property
    def aggregated(self) -> bool:
        """True when this sample's row is made from several frames or images by the concept library's
        aggregation rule: a subject, a DICOM series, a DICOM or NIfTI file (possibly several frames)."""
        return bool(self._parts) or (self._data is not None and medical_kind(self._data) is not None)

    def decode_parts(self) -> tuple[tuple[DecodedImage, ...], ...]:
        """Return the frames this sample is scored from, per image: one image of one frame for a photo; one
        image of the chosen slices for a DICOM multi-frame file, a NIfTI volume (``io.volume``) or a DICOM
        series (``io.series``); for a subject, each of its images' frames. The concept library averages
        the frames of each image, then the images (``concepts.library._aggregate``). Raises
        `UnreadableImage`."""
        if self.ref.series:
            return (_series_frames(self),)
        if self._parts:
            return _subject_parts(self)
        return (self.decode_frames(),)

    def decode_frames(self) -> tuple[DecodedImage, ...]:
        """Return the frames this sample is scored from (RGB uint8, at most ANALYSIS_MAX_SIDE), in order: one
        for a photo, the chosen slices of a DICOM multi-frame file, NIfTI volume (``io.volume``) or DICOM
        series (``io.series``); a subject's frames are all its images' frames (``decode_parts`` keeps them
        apart). Raises `UnreadableImage`."""
        if self._parts:
            return tuple(frame for part in self.decode_parts() for frame in part)
        if self._prepared is not None:
            prepared = self._prepared
            return (finish_decode(prepared.rgb, self.key, self.ref.source, prepared.original_size,
                                  prepared.format, notes=prepared.notes),)
        return read_frames(self._data or b"", self.ref.source, self.key)

    def metadata(self) -> dict[str, Any]:
        """Return what is recorded about this sample besides its pixels: the manifest's extra columns
        (``ImageRef.metadata``) and, for a DICOM file, its header fields (``io.dicom.dicom_header``; a
        subject's from its first readable DICOM image). The manifest wins where both name a field."""
        header: dict[str, Any] = {}
        if self._parts:
            header = next((h for h in (part.metadata() for part in self._parts) if h), {})
        elif self._data is not None and is_dicom(self._data):
            header = dicom_header(self._data)
        return {**header, **self.ref.metadata}

    def decode(self) -> DecodedImage:
        """Return the image that shows this sample (a volume's middle chosen slice): for thumbnails and
        examples. Raises `UnreadableImage`."""
        frames = self.decode_frames()
        return frames[len(frames) // 2]


@dataclass(frozen=True)
class ImageRef:
    """One sample of a set, not yet read: a file (``path``), a file at an fsspec URL (``url``, with ``path``
    None: read where ``load`` runs, e.g. on a Ray worker), an in-memory PIL image / array (``obj``), a
    subject: several images that belong together (``members``, from a manifest's subject column), scored
    as one sample, or a DICOM series stored one file per slice (``series``: ``members`` are its files in
    slice order, ``io.series``), scored from its chosen slices like a volume. ``metadata`` holds the
    manifest's other columns for this row (column -> value; for a subject or series the values its rows
    agree on), which become metadata concepts (``concepts.metadata``)."""

    source: str
    path: Path | None
    obj: object | None = field(default=None, repr=False, compare=False)
    members: tuple[ImageRef, ...] = field(default=(), repr=False, compare=False)
    metadata: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    series: bool = field(default=False, compare=False)
    url: str | None = None

    def load(self) -> LoadedImage:
        """Read the bytes (or convert the in-memory image) and hash them.

        Returns a `LoadedImage`. Raises `UnreadableImage` if the file vanished, cannot be read, or the
        in-memory object is not an image (for a subject: if none of its images can be read).
        """
        if self.series:
            return _load_series(self)
        if self.members:
            return _load_subject(self)
        if self.obj is not None:
            prepared = prepare_image(self.obj)
            return LoadedImage(self, array_hash(np.asarray(prepared.rgb)), _prepared=prepared)
        if self.path is None and self.url is None:
            raise UnreadableImage("nothing to read: the reference has neither a path nor an image object")
        data = _ref_bytes(self)
        return LoadedImage(self, sample_key(data), _data=data)


@dataclass
class ImageSet:
    """The images of one set, listed but not read.

    Attributes:
        refs: the images, in a stable order (sorted paths for folders and globs, given order for lists).
        skipped: files excluded while listing, each with a reason.
        name: a short label for messages (the folder's name, the pattern, ``"label = tumour"``...).
        notes: how files were read as samples, when that changes what the counts mean ("12 files read as
            1 DICOM series..."); each is also issued as a `tellapart.io.image.Notice` warning when the set is
            made.
    """

    refs: list[ImageRef]
    skipped: list[Skipped] = field(default_factory=list)
    name: str = "images"
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.refs)

    def __iter__(self) -> Iterator[ImageRef]:
        return iter(self.refs)

    def __repr__(self) -> str:
        images = f"{len(self.refs)} image{'s' if len(self.refs) != 1 else ''}"
        return f"ImageSet({self.name!r}, {images}, {len(self.skipped)} skipped)"

    @classmethod
    def from_spec(cls, spec: Any, name: str | None = None) -> ImageSet:
        """Build a set from a folder (recursive), a glob pattern, an image file, a list of paths, a list
        of PIL images / numpy arrays, an N x H x W (x C) array stack, or an ImageSet (returned as is).

        Returns the set. Raises FileNotFoundError for a path or pattern that matches nothing, and ValueError
        for a folder without image files, an empty list or an unsupported spec.
        """
        if isinstance(spec, ImageSet):
            return spec
        if isinstance(spec, (str, os.PathLike)):
            return _from_path_spec(spec, name)
        if isinstance(spec, np.ndarray) and spec.dtype.kind in "buif":
            return _from_array_stack(spec, name)
        if isinstance(spec, Image.Image):
            return cls([ImageRef("<memory:0>", None, spec)], [], name or "1 in-memory image")
        items = _as_list(spec)
        if items is None:
            raise ValueError(
                f"cannot make an image set from a {type(spec).__name__}; give a folder, a glob pattern, an "
                "image file, a list of paths, a list of PIL images or numpy arrays, or use "
                "ImageSet.from_manifest for a CSV/Parquet table"
            )
        return _from_list(items, name)

    @classmethod
    def from_manifest(
        cls,
        path: str | os.PathLike,
        group_col: str,
        value: Any,
        path_col: str | None = None,
        *,
        confine: bool = False,
        subject_col: str | None = None,
    ) -> ImageSet:
        """Build a set from the rows of a CSV/TSV/Parquet manifest whose ``group_col`` equals ``value``.

        Returns the set; relative paths resolve against the manifest's folder, and rows whose file does not
        exist are listed in ``skipped``. The manifest, and any of its paths, may be an fsspec URL
        (``s3://bucket/images.csv``, ``gs://b/x.png``; ``pip install 'tellapart[remote]'`` and the protocol's
        backend): the relative paths of a manifest at a URL resolve against the URL's folder, its absolute
        paths are local files. ``path_col`` defaults to a column named path, file, filepath,
        filename or image (case-insensitive). A manifest may name any file the user can read (``../``,
        absolute paths); with ``confine=True`` only files inside the manifest's folder are used (symbolic
        links followed), the others are listed in ``skipped``: for manifests from someone you do not trust.
        Every other column (not the path, group or subject column) is kept per image in
        ``ImageRef.metadata``: site, scanner, age... become metadata concepts and may be adjusted for
        (``describe(adjust_for=...)``); empty cells are missing values.
        With ``subject_col``, the images of one subject (a patient, a series: rows with the same value in that
        column) are one sample, scored from their frames (each image's averaged, then the images averaged:
        one row, like a volume's slices; at most `MAX_IMAGES_PER_SUBJECT` images, evenly spaced), so a
        subject never straddles the discovery/validation split and the tests count subjects, not correlated
        images; a row whose subject cell is empty is a sample of its own. The rows of one DICOM series
        stored one file per slice (within one subject) are one image of it (``io.series``).
        Raises ValueError for an empty or unreadable manifest, a missing column or group value, and
        FileNotFoundError if the manifest, or every file of the group, does not exist.
        """
        manifest = _manifest_location(path)
        table = read_manifest(manifest)
        _require_column(table, group_col, manifest)
        column = path_col if path_col is not None else _detect_path_column(table, manifest)
        _require_column(table, column, manifest)
        if subject_col is not None:
            _require_column(table, subject_col, manifest)
        rows = table[_group_mask(table[group_col], value, manifest, group_col)]
        label = f"{group_col} = {value}"
        refs, skipped, used = _refs_from_manifest_rows(rows[column], _manifest_folder(manifest), confine)
        if not refs:
            _raise_nothing_usable(manifest, label, skipped)
        extra = [c for c in table.columns if c not in (group_col, column, subject_col)]
        records = rows[extra].iloc[used].to_dict("records")
        refs = [replace(ref, metadata=_present(record)) for ref, record in zip(refs, records, strict=True)]
        subjects = list(rows[subject_col].iloc[used]) if subject_col is not None else None
        refs, subjects, repeats, notes = _group_series(refs, subjects)
        if subject_col is not None:
            refs, capped = _group_subjects(refs, subjects, subject_col, label)  # type: ignore[arg-type]
            notes += capped
        return _announced(cls(refs, skipped + repeats, label, notes))


def source_name(path: str | os.PathLike) -> str:
    """Return the text that names a file in results and reports: its path, with bytes that are not UTF-8
    (held by Python as lone surrogates, which no table, JSON or HTML file can store) written ``\\udcff``.
    The file itself is still read through its real path (``ImageRef.path``)."""
    text = os.fspath(path)
    return text.encode("utf-8", "backslashreplace").decode("utf-8") if not text.isprintable() else text


def repeat_reason(source: str, kept: str) -> str:
    """Return why ``source`` is not counted: its content repeats ``kept``, an image already in its set."""
    if source == kept:
        return "listed more than once in this set" + COUNTED_ONCE
    return f"same picture as {kept} (identical content) in this set" + COUNTED_ONCE


# --- reading ----------------------------------------------------------------------------------------------


def _ref_bytes(ref: ImageRef) -> bytes:
    """Return the bytes of the file ``ref`` names (its URL, else its path). Raises `UnreadableImage`."""
    if ref.url is not None:
        return read_url(ref.url)
    if ref.path is None:
        raise UnreadableImage("nothing to read: the reference names no file")
    return _read_bytes(ref.path)


def _read_bytes(path: Path) -> bytes:
    """Return the bytes of the local file ``path``. Raises `UnreadableImage` saying why it cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UnreadableImage("file does not exist (moved or deleted after the set was listed)") from None
    except PermissionError:
        raise UnreadableImage("cannot read file: permission denied") from None
    except IsADirectoryError:
        raise UnreadableImage("this is a folder, not an image file") from None
    except OSError as exc:
        raise UnreadableImage(f"cannot read file: {exc.strerror or exc}") from None


# --- subjects ---------------------------------------------------------------------------------------------


def _load_subject(ref: ImageRef) -> LoadedImage:
    """Read every image of a subject; the ones that fail are kept as problems (``_subject_parts`` says)."""
    parts: dict[str, LoadedImage] = {}
    problems = []
    for member in ref.members:
        try:
            loaded = member.load()
        except UnreadableImage as error:
            problems.append((member.source, error.reason))
            continue
        parts.setdefault(loaded.key, loaded)  # the same picture twice counts once
    if not parts:
        raise UnreadableImage(f"none of the subject's {len(ref.members)} images can be read: "
                              + _listed(problems))
    key = hashlib.sha256("\n".join(["subject", *sorted(parts)]).encode()).hexdigest()
    return LoadedImage(ref, key, _parts=tuple(parts.values()), _problems=tuple(problems))


def _subject_parts(subject: LoadedImage) -> tuple[tuple[DecodedImage, ...], ...]:
    """The frames of each of a subject's readable images; the images (or a series' slices) that could not be
    used are left out (``left_out``)."""
    parts: list[tuple[DecodedImage, ...]] = []
    problems = list(subject._problems)
    nested: list[Skipped] = []
    for part in subject._parts:
        try:
            parts.append(part.decode_frames())
        except UnreadableImage as error:
            problems.append((part.ref.source, error.reason))
        nested += part.left_out
    if not parts:
        raise UnreadableImage("none of the subject's images can be decoded: " + _listed(problems))
    frames = _noted(subject, parts, problems, "images", "subject")
    subject._left_out.extend(nested)
    return frames


# --- DICOM series stored one file per slice ---------------------------------------------------------------


def _load_series(ref: ImageRef) -> LoadedImage:
    """Read every file of a DICOM series (``ref.members``, in slice order) to hash it, and keep the bytes
    of the slices it is scored from (`io.volume.slice_indices` of the readable files)."""
    readable: list[tuple[ImageRef, bytes, str]] = []
    problems = []
    for member in ref.members:
        try:
            data = _ref_bytes(member)
        except UnreadableImage as error:
            problems.append((member.source, error.reason))
            continue
        readable.append((member, data, content_hash(data)))
    if not readable:
        raise UnreadableImage(f"none of the series' {len(ref.members)} files can be read: "
                              + _listed(problems))
    key = series_key([digest for _, _, digest in readable])
    chosen = slice_indices(len(readable))
    parts = tuple(LoadedImage(member, digest, _data=data)
                  for index, (member, data, digest) in enumerate(readable) if index in chosen)
    return LoadedImage(ref, key, _parts=parts, _problems=tuple(problems))


def _series_frames(series: LoadedImage) -> tuple[DecodedImage, ...]:
    """The chosen slices of a DICOM series as the frames of one sample; the files that could not be used
    are left out (``left_out``)."""
    files = [(part.ref.source, part._data or b"") for part in series._parts]
    frames, failed = read_series_frames(files, series.ref.source, series.key)
    (noted,) = _noted(series, [frames], [*series._problems, *failed], "files", "DICOM series")
    return noted


def _noted(sample: LoadedImage, parts: list[tuple[DecodedImage, ...]], problems: list[tuple[str, str]],
           noun: str, what: str) -> tuple[tuple[DecodedImage, ...], ...]:
    """A subject's or series' frames; when some of its files could not be used (``problems``: source,
    reason), every frame carries a note that says which and why (the sample is listed as degraded, and
    not cached), and the files are recorded as the sample's ``left_out``."""
    sample._left_out.clear()
    if not problems:
        return tuple(parts)
    sample._left_out.extend(
        Skipped(source, f"{reason}; left out of the {what} {sample.ref.source}, scored from its other {noun}")
        for source, reason in problems)
    note = (f"scored without {len(problems)} of its {len(sample.ref.members)} {noun}: "
            + _listed(problems, None))
    return tuple(tuple(replace(frame, notes=(*frame.notes, note)) for frame in part) for part in parts)


def _listed(problems: list[tuple[str, str]], limit: int | None = 3) -> str:
    """(source, reason) pairs as "SOURCE: reason; ..." (the first ``limit``)."""
    return "; ".join(f"{source}: {reason}" for source, reason in problems[:limit])


def _may_be_dicom(ref: ImageRef) -> bool:
    """True for a file that a DICOM series may hold: not a photo's or a NIfTI file's name."""
    if (ref.path is None and ref.url is None) or ref.members:
        return False
    name = ref.path.name if ref.path is not None else url_name(ref.url or "")
    return not name.lower().endswith(NIFTI_SUFFIXES) and _suffix(name) not in IMAGE_EXTENSIONS


def _suffix(name: str) -> str:
    """The lower-case extension of a file name (``".png"``; ``""`` for none), as ``Path.suffix`` has it."""
    return Path(name).suffix.lower()


def _slice_header(ref: ImageRef) -> Any:
    """The DICOM series header of a local or URL file (`io.series.slice_header`; for a URL only the first
    blocks of the file are fetched), or None."""
    if ref.url is None:
        return slice_header(ref.path) if ref.path is not None else None
    try:
        handle = open_head(ref.url)
    except Exception:  # unreadable here: the file is read (and its reason reported) when it is loaded
        return None
    with handle:
        return slice_header(handle)


def _files_folder(members: Sequence[ImageRef]) -> str:
    """The folder (path or URL) that holds all of a series' files, for its name."""
    if all(m.url is None for m in members):
        return source_name(os.path.commonpath([str(m.path) for m in members]))
    urls = [shown_url(m.url) for m in members if m.url is not None]
    protocol = urls[0].partition("://")[0]
    rests = [url.partition("://")[2] for url in urls]
    if len(urls) < len(members) or any(not url.startswith(f"{protocol}://") for url in urls) or \
            len({rest.startswith("/") for rest in rests}) > 1:
        return url_folder(urls[0])
    return f"{protocol}://{posixpath.commonpath(rests)}"  # URL paths are "/"-separated on every OS


def _group_series(refs: list[ImageRef], scopes: list[Any] | None = None
                  ) -> tuple[list[ImageRef], list[Any] | None, list[Skipped], list[str]]:
    """Make each DICOM series stored one file per slice (``io.series.find_series``) one sample, at the
    position of its first file; files grouped only with files of the same scope (``scopes[i]``: a
    manifest's subject, or None for one scope).

    Returns the samples, their scopes (aligned; None when none were given), the files skipped as repeats of
    an instance already read, and the notes that say how many files became how many series."""
    headers = [_slice_header(ref) if _may_be_dicom(ref) else None for ref in refs]
    if scopes is not None:
        headers = [None if h is None else replace(h, series=f"{scope!r}\0{h.series}")
                   for h, scope in zip(headers, scopes, strict=True)]
    groups, repeats = find_series(headers, [ref.source for ref in refs])
    if not groups and not repeats:
        return refs, scopes, [], []
    first_of = {min(group): group for group in groups}
    absorbed = {index for group in groups for index in group}
    samples: list[ImageRef] = []
    kept_scopes: list[Any] = []
    for index, ref in enumerate(refs):
        if index in first_of:
            members = tuple(refs[i] for i in first_of[index])
            uid = headers[index].series.split("\0")[-1]  # type: ignore[union-attr]
            folder = _files_folder(members)
            samples.append(ImageRef(f"{folder} (DICOM series {uid}, {len(members)} files)", None,
                                    members=members, metadata=_agreed(members), series=True))
        elif index in absorbed or index in repeats:
            continue
        else:
            samples.append(ref)
        kept_scopes.append(None if scopes is None else scopes[index])
    skipped = [Skipped(refs[index].source, f"same DICOM instance (SOP Instance UID) as {refs[kept].source} "
                                           "in this set" + COUNTED_ONCE)
               for index, kept in sorted(repeats.items())]
    notes = []
    if groups:
        n_files = sum(len(group) for group in groups)
        notes.append(f"{n_files} files read as {len(groups)} DICOM series (one sample each, scored from at "
                     f"most {SLICES_PER_VOLUME} slices through its middle, like a volume)")
    return samples, None if scopes is None else kept_scopes, skipped, notes


def _series_set(refs: list[ImageRef], skipped: list[Skipped], name: str) -> ImageSet:
    """The set of ``refs`` with each DICOM series stored one file per slice made one sample (announced)."""
    refs, _, repeats, notes = _group_series(refs)
    return _announced(ImageSet(refs, skipped + repeats, name, notes))


def _announced(image_set: ImageSet) -> ImageSet:
    """Issue each of the set's notes as a `Notice` warning ("SET: NOTE"); return the set."""
    for note in image_set.notes:
        warnings.warn(f"{image_set.name}: {note}", Notice, stacklevel=4)
    return image_set


def _group_subjects(refs: list[ImageRef], subjects: list[Any], column: str, label: str
                    ) -> tuple[list[ImageRef], list[str]]:
    """One sample per subject (in order of first appearance): a subject with one image is that image, one
    with several is an ImageRef named ``"LABEL: COLUMN = VALUE"`` holding them (at most
    `MAX_IMAGES_PER_SUBJECT`, evenly spaced in manifest order); a row with no subject is a sample of its
    own. Returns the samples and a note when some subject was capped."""
    grouped: dict[Any, list[ImageRef]] = {}
    alone = []
    for ref, subject in zip(refs, subjects, strict=True):
        if _no_subject(subject):
            alone.append(ref)
            grouped[("alone", len(alone))] = [ref]
        else:
            grouped.setdefault(subject, []).append(ref)
    samples = []
    capped = []
    for subject, members in grouped.items():
        if len(members) == 1:
            samples.append(members[0])
            continue
        agreed = _agreed(members)
        if len(members) > MAX_IMAGES_PER_SUBJECT:
            capped.append(len(members))
            picks = np.linspace(0, len(members) - 1, MAX_IMAGES_PER_SUBJECT).round().astype(int)
            members = [members[i] for i in sorted(set(picks.tolist()))]
        samples.append(ImageRef(f"{label}: {column} = {subject}", None, members=tuple(members),
                                metadata=agreed))
    notes = []
    if capped:
        noun = "subject has" if len(capped) == 1 else "subjects have"
        notes.append(f"{len(capped)} {noun} more than {MAX_IMAGES_PER_SUBJECT} images (up to {max(capped)}); "
                     f"each is scored from {MAX_IMAGES_PER_SUBJECT} of them, evenly spaced in manifest order")
    return samples, notes


def _agreed(members: Sequence[ImageRef]) -> dict[str, Any]:
    """The metadata values all ``members`` share (column -> value): what a subject or series records."""
    return {k: v for k, v in members[0].metadata.items() if all(m.metadata.get(k) == v for m in members[1:])}


def _present(record: dict[Any, Any]) -> dict[str, Any]:
    """A manifest row's cells without the empty ones (missing, NaN, blank text), keyed by column name."""
    return {str(k): v.strip() if isinstance(v, str) else v for k, v in record.items() if not _no_subject(v)}


def _no_subject(value: Any) -> bool:
    """True for an empty subject cell (missing, NaN or blank text)."""
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, float) and np.isnan(value))


# --- specs ------------------------------------------------------------------------------------------------


def _from_path_spec(spec: str | os.PathLike, name: str | None) -> ImageSet:
    """The set a folder, glob pattern or file names: a local path, or an fsspec URL (`_from_url_spec`)."""
    text = os.fspath(spec)
    if is_url(text):
        return _from_url_spec(text.strip(), name)
    path = Path(text).expanduser()
    if path.is_dir():
        refs, skipped = _walk_folder(path)
        if not refs:
            _raise_no_images(f"folder {printable(path)}", skipped)
        return _series_set(refs, skipped, name or source_name(path.absolute().name or path))
    if path.exists():
        ref, reason = _file_ref(path)
        if ref is None:
            raise ValueError(
                f"{printable(path)} is {reason}; give a folder, a glob pattern or an image file "
                "(for a CSV/Parquet table of paths use ImageSet.from_manifest)"
            )
        return ImageSet([ref], [], name or source_name(path.name))
    if _GLOB_CHARS & set(text):
        return _from_glob(os.path.expanduser(text), name)
    if os.path.lexists(path):
        raise FileNotFoundError(f"{printable(path)} is a broken symbolic link")
    raise FileNotFoundError(f"no such file or folder: {printable(path)}{_folded_url_hint(spec)}")


def _from_url_spec(url: str, name: str | None) -> ImageSet:
    """The set a folder URL (recursive), a glob URL or a file URL names, as `_from_path_spec` makes it from
    a local path (the same errors, naming the URL). Raises ModuleNotFoundError when fsspec or the
    protocol's backend is missing."""
    fs, path = url_filesystem(url)
    kind = _url_kind(fs, path, url)
    # A file or folder whose name holds "[", "*" or "?" ("scan[1].png") is itself, as a local one is
    # (`_from_path_spec`): a pattern only when nothing has that name; a query's "?" is no pattern.
    if kind is None and _GLOB_CHARS & set(shown_url(url) if has_query(url) else path):
        return _from_url_glob(fs, path, url, name)
    if kind == "directory":
        refs, skipped = _collect_urls(fs, [path], {path: "directory"})
        if not refs:
            _raise_no_images(f"folder {printable(shown_url(url))}", skipped)
        return _series_set(refs, skipped, name or posixpath.basename(path.rstrip("/")) or shown_url(url))
    if kind == "file":
        ref, reason = _url_file_ref(fs, path)
        if ref is None:
            raise ValueError(
                f"{printable(shown_url(url))} is {reason}; give a folder, a glob pattern or an image file "
                "(for a CSV/Parquet table of paths use ImageSet.from_manifest)"
            )
        return ImageSet([ref], [], name or url_name(url))
    raise FileNotFoundError(f"no such file or folder: {printable(shown_url(url))}")


def _url_kind(fs: Any, path: str, url: str) -> str | None:
    """Return "directory", "file" or None (nothing there) for ``path`` on ``fs`` (`io.remote.path_kind`);
    raise PermissionError naming ``url`` when these credentials may not see it, OSError when the storage
    cannot be asked (network, expired credentials)."""
    kind = path_kind(fs, path)
    if kind == DENIED:
        raise PermissionError(f"cannot read {printable(shown_url(url))}: permission denied")
    return kind


def _from_url_glob(fs: Any, pattern: str, url: str, name: str | None) -> ImageSet:
    """The set of the files (and folders' files) that the glob URL ``url`` (``pattern`` on ``fs``) matches;
    names with a part starting with ``.`` below the pattern's fixed folder are not matched, as locally."""
    fixed = pattern[: min(pattern.index(c) for c in _GLOB_CHARS if c in pattern)].rsplit("/", 1)[0]
    try:
        kinds = {m: kind for m, kind in glob_url(fs, pattern).items()
                 if not any(part.startswith(".") for part in posixpath.relpath(m, fixed or "/").split("/"))}
    except Exception as error:  # backends raise their own errors (botocore's, google-auth's...)
        raise OSError(f"cannot list {printable(shown_url(url))}: {error_detail(error)}") from error
    shown = shown_url(url)
    if not kinds:
        raise FileNotFoundError(f"no files match the pattern {shown!r}")
    refs, skipped = _collect_urls(fs, list(kinds), kinds)
    if not refs:
        _raise_no_images(f"the files matching {shown!r}", skipped)
    return _series_set(refs, skipped, name or shown)


def _from_glob(pattern: str, name: str | None) -> ImageSet:
    matches = sorted(glob.glob(pattern, recursive=True))
    if not matches:
        raise FileNotFoundError(f"no files match the pattern {pattern!r}")
    refs, skipped = _collect_paths([Path(m) for m in matches])
    if not refs:
        _raise_no_images(f"the files matching {pattern!r}", skipped)
    return _series_set(refs, skipped, name or pattern)


def _from_list(items: list[Any], name: str | None) -> ImageSet:
    if not items:
        raise ValueError("the list of images is empty")
    refs: list[ImageRef] = []
    skipped: list[Skipped] = []
    n_paths = 0
    urls = _list_urls(items)
    for index, item in enumerate(items):
        if index in urls:
            n_paths += 1
            fs, path, kind = urls[index]
            item_refs, item_skipped = _collect_urls(fs, [path], {path: kind})
            refs += item_refs
            skipped += item_skipped
        elif isinstance(item, (str, os.PathLike)):
            n_paths += 1
            item_refs, item_skipped = _collect_paths([Path(os.fspath(item)).expanduser()], missing_ok=True)
            refs += item_refs
            skipped += item_skipped
        elif isinstance(item, (Image.Image, np.ndarray)):
            refs.append(ImageRef(f"<memory:{index}>", None, item))
        else:
            raise ValueError(
                f"item {index} of the list is a {type(item).__name__}; items must be paths, PIL images or "
                "numpy arrays"
            )
    if not refs:
        _raise_no_images("the list", skipped)
    kind = "paths" if n_paths == len(items) else "in-memory images" if n_paths == 0 else "images"
    return _series_set(refs, skipped, name or f"{len(items)} {kind}")


def _list_urls(items: list[Any]) -> dict[int, tuple[Any, str, str | None]]:
    """The URL items of a list: index -> (filesystem, path, "file" | "directory" | None for absent), found
    from one listing per folder. Raises ModuleNotFoundError (before anything is read) when fsspec or a
    protocol's backend is missing."""
    located = {index: url_filesystem(item.strip()) for index, item in enumerate(items) if is_url(item)}
    kinds: dict[int, str | None] = {}
    for fs_id in {id(fs) for fs, _ in located.values()}:
        mine = {index: where for index, where in located.items() if id(where[0]) == fs_id}
        fs = next(iter(mine.values()))[0]
        found = url_kinds(fs, [path for _, path in mine.values()])
        kinds.update({index: found[path] for index, (_, path) in mine.items()})
    return {index: (fs, path, kinds[index]) for index, (fs, path) in located.items()}


def _from_array_stack(stack: np.ndarray, name: str | None) -> ImageSet:
    if stack.ndim == 4 or (stack.ndim == 3 and stack.shape[-1] not in (1, 3, 4)):
        refs = [ImageRef(f"<memory:{i}>", None, stack[i]) for i in range(stack.shape[0])]
        if not refs:
            raise ValueError(f"the array stack has shape {stack.shape}, which holds no images")
        return ImageSet(refs, [], name or f"{len(refs)} in-memory images")
    raise ValueError(
        f"a single array of shape {stack.shape} is ambiguous; pass a list of images ([array]) for one image, "
        "or an N x H x W (x C) stack of images"
    )


def _as_list(spec: Any) -> list[Any] | None:
    if isinstance(spec, (list, tuple)):
        return list(spec)
    if isinstance(spec, (pd.Series, pd.Index)) or (isinstance(spec, np.ndarray) and spec.dtype.kind in "USO"):
        return list(spec.tolist())
    return None


# --- listing files ----------------------------------------------------------------------------------------


def _walk_folder(root: Path) -> tuple[list[ImageRef], list[Skipped]]:
    """Every non-hidden regular file under ``root`` (recursively), in sorted order; hidden files and folders
    (``.name``: a system's or a tool's, such as ``.DS_Store`` or ``.thumbnails``) are listed as skipped."""
    errors: list[Skipped] = []

    def on_error(exc: OSError) -> None:
        reason = "permission denied" if isinstance(exc, PermissionError) else (exc.strerror or str(exc))
        errors.append(Skipped(source_name(exc.filename or root), f"cannot list folder: {reason}"))

    files: list[Path] = []
    for folder, dirnames, filenames in os.walk(root.absolute(), onerror=on_error):
        dirnames.sort()
        hidden = [(d, HIDDEN_FOLDER) for d in dirnames] + [(f, HIDDEN_FILE) for f in sorted(filenames)]
        errors += [Skipped(source_name(os.path.join(folder, name)), why)
                   for name, why in hidden if name.startswith(".")]
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        # os.walk does not descend into linked folders (a link loop would never end); say so.
        errors += [
            Skipped(source_name(os.path.join(folder, d)), "symbolic link to a folder, not followed")
            for d in dirnames
            if os.path.islink(os.path.join(folder, d))
        ]
        files.extend(Path(folder, f) for f in filenames if not f.startswith("."))
    refs, skipped = _collect_paths(sorted(files))
    return refs, errors + skipped


def _collect_paths(paths: list[Path], missing_ok: bool = False) -> tuple[list[ImageRef], list[Skipped]]:
    refs: list[ImageRef] = []
    skipped: list[Skipped] = []
    for path in paths:
        if path.is_dir():
            sub_refs, sub_skipped = _walk_folder(path)
            refs += sub_refs
            skipped += sub_skipped
            continue
        if missing_ok and not path.exists():
            skipped.append(Skipped(source_name(path.absolute()), "file does not exist"))
            continue
        ref, reason = _file_ref(path)
        if ref is None:
            skipped.append(Skipped(source_name(path.absolute()), reason))
        else:
            refs.append(ref)
    return refs, skipped


def _file_ref(path: Path) -> tuple[ImageRef | None, str]:
    """An ImageRef for an image file, or None and the reason it is not one."""
    absolute = path.absolute()
    if not path.exists():
        return None, "broken symbolic link" if os.path.lexists(path) else "file does not exist"
    if not path.is_file():
        return None, "not a regular file"
    suffix = path.suffix.lower()
    if suffix not in IMAGE_EXTENSIONS and not is_medical_name(path.name) and not _has_dicom_preamble(path):
        return None, f"not an image file ({suffix or 'no extension'})"
    return ImageRef(source_name(absolute), absolute), ""


def _collect_urls(fs: Any, paths: list[str], kinds: dict[str, str | None]
                  ) -> tuple[list[ImageRef], list[Skipped]]:
    """The images among ``paths`` on ``fs`` (folders searched recursively), and the others skipped with
    why; ``kinds`` says what each path is ("file", "directory", or None when it does not exist)."""
    refs: list[ImageRef] = []
    skipped: list[Skipped] = []
    for path in paths:
        kind = kinds.get(path)
        if kind == "directory":
            files, hidden = walk_url_folder(fs, path)
            sub_refs, sub_skipped = _collect_urls(fs, files, dict.fromkeys(files, "file"))
            refs += sub_refs
            skipped += hidden + sub_skipped
            continue
        if kind is None or kind == DENIED:
            ref, reason = None, "file does not exist" if kind is None else PERMISSION_DENIED
        else:
            ref, reason = _url_file_ref(fs, path)
        if ref is None:
            skipped.append(Skipped(shown_url(to_url(fs, path)), reason))
        else:
            refs.append(ref)
    return refs, skipped


def _url_file_ref(fs: Any, path: str) -> tuple[ImageRef | None, str]:
    """An ImageRef for the image file ``path`` on ``fs`` (known to exist), or None and the reason it is not
    one. Only a file without an image's extension is read at all: its first `io.dicom.HEAD_SIZE` (132)
    bytes, for DICOM's preamble; one that cannot be read is skipped with why ("cannot read file: ..."), not
    as "not an image file"."""
    url = to_url(fs, path)
    name = url_name(url)
    if _suffix(name) not in IMAGE_EXTENSIONS and not is_medical_name(name):
        try:
            head = read_head(fs, path, HEAD_SIZE)
        except UnreadableImage as error:
            return None, error.reason
        if not is_dicom(head):
            return None, f"not an image file ({_suffix(name) or 'no extension'})"
    return ImageRef(shown_url(url), None, url=url), ""


def _has_dicom_preamble(path: Path) -> bool:
    """True when the file starts like a DICOM file (series files often have no extension, or a UID's)."""
    try:
        with path.open("rb") as handle:
            return is_dicom(handle.read(HEAD_SIZE))
    except OSError:
        return False


def _raise_no_images(where: str, skipped: list[Skipped]) -> None:
    if not skipped:
        raise ValueError(f"{where} is empty: there are no image files in it")
    examples = "; ".join(f"{printable(Path(s.source).name)}: {s.reason}" for s in skipped[:3])
    more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
    raise ValueError(
        f"{where} has no image files ({len(skipped)} other files: {examples}{more}); image files have one of "
        f"the extensions {', '.join(sorted(IMAGE_EXTENSIONS))}, or are DICOM ({', '.join(DICOM_SUFFIXES)} or "
        f"any name, with the DICM preamble) or NIfTI ({', '.join(NIFTI_SUFFIXES)})"
    )


# --- manifests --------------------------------------------------------------------------------------------


def read_manifest(manifest: Path | str) -> pd.DataFrame:
    """Return the manifest's table (a local file, or an fsspec URL: fetched once, into memory); raise
    FileNotFoundError or a ValueError that names the file (ModuleNotFoundError for a URL that fsspec or its
    protocol's backend is missing for)."""
    shown = printable(shown_url(manifest) if isinstance(manifest, str) else manifest)
    source: Any = manifest
    if is_url(manifest):
        source = _fetched_manifest(str(manifest))
    elif not Path(manifest).is_file():
        raise FileNotFoundError(f"manifest not found: {shown}{_folded_url_hint(manifest)}")
    suffix = _manifest_suffix(manifest)
    what = "a header row with a path column and a group column, then one row per image"
    try:
        if _MANIFEST_READERS[suffix] is None:
            table = pd.read_parquet(source)
        else:
            table = pd.read_csv(source, sep=_MANIFEST_READERS[suffix])
    except pd.errors.EmptyDataError:
        raise ValueError(f"manifest {shown} is empty; it needs {what}") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as error:
        detail = printable(" ".join(str(error).split()))[:DETAIL_CHARS]
        raise ValueError(f"cannot read manifest {shown} ({detail}); it needs {what}") from None
    if table.empty and not len(table.columns):
        raise ValueError(f"manifest {shown} is empty; it needs {what}")
    return table


def _folded_url_hint(spec: str | os.PathLike) -> str:
    """A hint for a URL that went through ``pathlib.Path`` (``s3://b/m.csv`` became ``s3:/b/m.csv``), else
    ""."""
    text = os.fspath(spec)
    if isinstance(spec, Path) and is_url(text.replace(":/", "://", 1)) and "://" not in text:
        return f" (if it is the URL {text.replace(':/', '://', 1)}, pass it as text: pathlib.Path folds '//')"
    return ""


def _manifest_suffix(manifest: Path | str) -> str:
    """The lower-case extension of a manifest's file name (a path or a URL), one of `_MANIFEST_READERS`;
    raises ValueError for any other."""
    suffix = _suffix(url_name(manifest) if isinstance(manifest, str) else manifest.name)
    if suffix not in _MANIFEST_READERS:
        raise ValueError(f"manifest {printable(manifest)} must be a .csv, .tsv or .parquet file, not "
                         f"{suffix or 'no extension'}")
    return suffix


def _fetched_manifest(url: str) -> io.BytesIO:
    """The manifest at ``url``, read whole into memory; FileNotFoundError when there is none, ValueError
    when it is not a .csv/.tsv/.parquet file or cannot be read (ModuleNotFoundError as
    `io.remote.url_filesystem` raises it)."""
    fs, path = url_filesystem(url)
    if _url_kind(fs, path, url) != "file":
        raise FileNotFoundError(f"manifest not found: {printable(shown_url(url))}")
    _manifest_suffix(url)
    try:
        return io.BytesIO(read_url(url))
    except UnreadableImage as error:
        raise ValueError(f"cannot read manifest {printable(shown_url(url))} ({error.reason})") from None


def _manifest_location(path: str | os.PathLike) -> Path | str:
    """A manifest given as text or a path: its URL (stripped) when it is one, else its local path."""
    return path.strip() if isinstance(path, str) and is_url(path) else Path(path).expanduser()


def _manifest_folder(manifest: Path | str) -> Path | str:
    """The folder a manifest's relative paths resolve against: its local folder, or its URL's folder."""
    return url_folder(manifest) if isinstance(manifest, str) else manifest.absolute().parent


def _require_column(table: pd.DataFrame, column: str, manifest: Path | str) -> None:
    if column not in table.columns:
        raise ValueError(
            f"manifest {printable(manifest)} has no column {column!r}; its columns are: "
            f"{_listing(table.columns)}"
        )


def _detect_path_column(table: pd.DataFrame, manifest: Path | str) -> str:
    by_lower = {str(c).lower(): c for c in table.columns}
    for candidate in PATH_COLUMNS:
        if candidate in by_lower:
            return by_lower[candidate]
    raise ValueError(
        f"manifest {printable(manifest)} has no path column (one named {', '.join(PATH_COLUMNS)}); its "
        f"columns are: {_listing(table.columns)}; pass path_col= to name it"
    )


def _group_mask(column: pd.Series, value: Any, manifest: Path | str, group_col: str) -> pd.Series:
    """Rows whose group equals ``value``; "1" matches 1 and 1 matches "1" (values typed on a command line)."""
    mask = column == value
    if not mask.any():
        mask = column.astype(str).str.strip() == str(value).strip()
    if not mask.any():
        counts = column.value_counts(dropna=False)
        present = ", ".join(f"{v!r} ({n} rows)" for v, n in list(counts.items())[:20])
        more = f", and {len(counts) - 20} more" if len(counts) > 20 else ""
        raise ValueError(
            f"no rows of manifest {printable(manifest)} have {group_col} = {value!r}; present values: "
            f"{present}{more}"
        )
    return mask


def _refs_from_manifest_rows(
    cells: pd.Series, base: Path | str, confine: bool = False
) -> tuple[list[ImageRef], list[Skipped], list[int]]:
    """The images the manifest's path cells name (relative to ``base``: a folder, or a folder URL), the rows
    skipped with why, and the positions of the rows the images came from (aligned with the images).

    A cell may be a URL; URL files are checked against one listing of each folder they are in (raises
    ModuleNotFoundError, before any image is read, when fsspec or a protocol's backend is missing)."""
    named: list[tuple[int, Path | str]] = []
    skipped: list[Skipped] = []
    for position, (row, cell) in enumerate(cells.items()):
        problem = _path_cell_problem(cell)
        target = cell_target(cell.strip(), base) if not problem else None
        if problem:
            skipped.append(Skipped(f"<manifest row {row}>", problem))
        elif confine and not _within(target, base):  # type: ignore[arg-type]
            skipped.append(Skipped(_shown(target), OUTSIDE_MANIFEST_FOLDER))  # type: ignore[arg-type]
        else:
            named.append((position, target))  # type: ignore[arg-type]
    urls = _list_urls([target for _, target in named])
    refs: list[ImageRef] = []
    used: list[int] = []
    for index, (position, target) in enumerate(named):
        ref, problem = _url_cell_ref(*urls[index]) if index in urls else _local_cell_ref(target)
        if ref is None:
            skipped.append(problem)  # type: ignore[arg-type]
        else:
            refs.append(ref)
            used.append(position)
    return refs, skipped, used


def _url_cell_ref(fs: Any, path: str, kind: str | None) -> tuple[ImageRef | None, Skipped | None]:
    """The image a manifest's URL names (``kind``: what ``path`` is on ``fs``), or None and why not."""
    if kind == "directory":
        return None, Skipped(shown_url(to_url(fs, path)), "not a regular file")
    found, skipped = _collect_urls(fs, [path], {path: kind})
    return (found[0], None) if found else (None, skipped[0])


def _local_cell_ref(target: Path | str) -> tuple[ImageRef | None, Skipped | None]:
    """The image a manifest's local path names, or None and why not."""
    ref, reason = _file_ref(Path(target))
    return (ref, None) if ref is not None else (None, Skipped(source_name(Path(target)), reason))


def cell_target(text: str, base: Path | str) -> Path | str:
    """What a manifest's path cell names: a URL (the cell's own, or a relative path under a URL ``base``)
    or a local path (absolute, or relative to a local ``base``)."""
    if is_url(text):
        return text
    if isinstance(base, str):  # "~" is this machine's home: a URL manifest's cells are the store's names
        return Path(text) if Path(text).is_absolute() else join_url(base, text)
    path = Path(text).expanduser()
    return path if path.is_absolute() else base / path


def _within(target: Path | str, base: Path | str) -> bool:
    """True when the manifest's file ``target`` is inside the manifest's folder ``base`` (path or URL).

    Files on this machine (paths, ``file://`` URLs) are compared with symbolic links followed
    (``_inside``): a link inside the folder to a file outside it is outside, whichever way it is named.
    Other URLs are compared as text, ``.`` and ``..`` folded (`io.remote.url_inside`)."""
    local_target, local_base = _on_this_machine(target), _on_this_machine(base)
    if local_target is not None and local_base is not None:
        return _inside(local_target, local_base)
    if local_target is not None or local_base is not None:
        return False  # one on this machine, the other in a remote store
    return url_inside(target, base)  # type: ignore[arg-type]


def _on_this_machine(where: Path | str) -> Path | None:
    """The local path of a path or a ``file://`` URL; None for a URL of another store."""
    if isinstance(where, Path):
        return where
    path = local_path(where)
    return Path(path) if path is not None else None


def _shown(target: Path | str) -> str:
    """The name a manifest's file goes by in skipped lists: its URL, or its path (``source_name``)."""
    return shown_url(target) if isinstance(target, str) else source_name(target)


def _path_cell_problem(cell: Any) -> str:
    """Why a manifest cell is not a file path ("" when it is text that may be one)."""
    if isinstance(cell, str):
        return "" if cell.strip() else "empty path in the manifest"
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return "empty path in the manifest"
    return (f"the path column holds {type(cell).__name__} {cell!r}, not a file path; name the column that "
            "holds the paths (--path-col / path_col=)")


def _inside(path: Path, folder: Path) -> bool:
    """True when ``path``, symbolic links followed, is inside ``folder`` (also resolved)."""
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder))


def _raise_nothing_usable(manifest: Path | str, label: str, skipped: list[Skipped]) -> None:
    missing = [s for s in skipped if s.reason == "file does not exist"]
    first = f"; the first is {printable(skipped[0].source)} ({skipped[0].reason})" if skipped else ""
    label, shown = printable(label), printable(manifest)
    if missing and len(missing) == len(skipped):
        raise FileNotFoundError(
            f"none of the {len(skipped)} files listed for {label} in {shown} exist (relative paths are "
            f"resolved against {printable(_manifest_folder(manifest))}){first}"
        )
    raise ValueError(
        f"none of the {len(skipped)} rows for {label} in {shown} is a usable image file{first}"
    )


def _listing(columns: Any) -> str:
    return ", ".join(repr(c) for c in columns)
