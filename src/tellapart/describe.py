"""The describe pipeline: two image sets in, verified plain-language differences out.

ImageSet A, B -> concept library -> score matrix -> statistical contract (discovery / validation,
AUROC with CI, rank test, Benjamini-Hochberg, explaining-away) -> phrased findings -> Result.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tellapart.concepts.base import Concept
from tellapart.concepts.cache import ScoreCache, default_cache_dir
from tellapart.concepts.distributed import check_ray, score_sets
from tellapart.concepts.library import ConceptLibrary
from tellapart.concepts.versioning import function_fingerprint
from tellapart.io import ImageSet
from tellapart.io.dicom import HEADER_FIELDS
from tellapart.io.printable import printable
from tellapart.phrasing import finding_sentence, format_p
from tellapart.propose import PROPOSAL_ALPHA_SHARE, ChatClient, ProposerError, scale_q_values
from tellapart.schema import (
    DEGRADED_COLUMNS,
    FINDING_COLUMNS,
    SIGNAL_COLUMNS,
    Overall,
    Result,
    ScoreMatrix,
    round_contours,
)
from tellapart.stats import split_discovery_validation, test_concepts, test_hypotheses_on_all
from tellapart.stats.classifier import DifferenceTest, Memo, blas_threads
from tellapart.stats.contract import DEFAULT_DESIGN, DESIGNS
from tellapart.stats.describer import LearnedDescriber, load_describer
from tellapart.stats.reportable import (
    check_domain,
    declare_domain,
    domain_check,
    lead_concepts,
    reportable_concepts,
)
from tellapart.stats.stratified import strata as stratified_strata
from tellapart.stats.tests import CORRECTIONS

if TYPE_CHECKING:
    from tellapart.concepts.imagetext import ImageTextSource

MIN_IMAGES = 10
N_EXAMPLES = 6

__all__ = ["FINDING_COLUMNS", "Result", "TooFewImagesError", "describe", "overall_sentence", "verify"]


class TooFewImagesError(ValueError):
    """A set has fewer readable images than the statistics need."""


def describe(
    a: Any,
    b: Any,
    *,
    seed: int = 0,
    alpha: float = 0.05,
    max_hypotheses: int | None = None,
    correction: str = "bh",
    library: ConceptLibrary | None = None,
    describer: LearnedDescriber | str | os.PathLike | None = "shipped",
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    progress: bool = True,
    adjust_for: Sequence[str] | None = None,
    design: str = DEFAULT_DESIGN,
    domain: str = "auto",
    model: str | os.PathLike | None = None,
    vocabulary: str | os.PathLike | Sequence[str] | None = None,
    allow_download: bool = False,
    llm: str | None = None,
    llm_model: str | None = None,
    llm_timeout: float = 60.0,
    llm_phrases: int = 10,
    ray: str | None = None,
) -> Result:
    """Find and verify the differences between two image sets.

    Parameters:
        a, b: the two sets: a folder, a glob pattern, a list of paths, a list of PIL images or arrays, or
            an ``ImageSet`` (e.g. from ``ImageSet.from_manifest``).
        seed: fixes the relabellings (max-T) and the discovery/validation splits, so results are
            reproducible.
        alpha: a finding is significant when its corrected q-value is below ``alpha``.
        max_hypotheses: with ``design="split"``, at most this many hypotheses (chosen on the discovery
            half) are tested on the validation half, all counted in the correction (default 10 with a
            learned describer, 30 without); with max-T, at most this many non-significant concepts are
            listed besides the significant ones (default 30; every concept is tested either way).
        correction: ``design="split"`` only: "bh" (Benjamini-Hochberg, the default) or "holm"; with a
            learned describer, weighted by its confidence on the discovery half (the findings' ``weight``).
        library: the concept library; defaults to the offline backend.
        describer: what orders the findings (max-T) or chooses and orders the hypotheses on the discovery
            half (split): "shipped" (the learned describer trained on synthetic pairs,
            ``tellapart.stats.describer``), a path to one made by ``tellapart train``, a
            ``LearnedDescriber``, or None (order by AUROC and concept kind). It never decides what is
            significant (max-T) or touches the validation half (split).
        cache_dir: where per-image scores are cached (default ``$TELLAPART_CACHE_DIR`` or
            ``~/.cache/tellapart``); ``use_cache=False`` turns the cache off.
        progress: show a progress bar while images are processed.
        adjust_for: metadata columns (a manifest's extra columns, DICOM header fields such as
            ``"Manufacturer"``) to adjust for: every concept is tested within strata
            of their values (``stats.stratified``), reported beside its unadjusted AUROC, and the columns'
            own concepts are not tested. "What differs beyond the scanner?"
        design: how the images are used for the findings (``stats.contract.DESIGNS``; CLI ``--design``).
            ``"maxt"`` (the default): every concept of the findings family is tested on every image,
            the family-wise error controlled by step-down max-T over random relabellings
            (``stats.maxt``); the learned describer only orders what is significant; AUROC intervals
            are simultaneous over all tested concepts, so they stay honest for findings picked for
            being strong. ``"split"``: hypotheses are chosen (and, with a describer, weighted) on a
            discovery half and tested on the other
            half (the design before max-T).
        domain: are the images photos of everyday things, where ImageNet names, detectors of synthetic edits
            to photos and the people, pose, face, object and OpenCV cascade models mean something
            (``stats.reportable.DOMAINS``; CLI ``--domain``)? ``"auto"`` (the default): decided from all
            images by the domain model (``result.domain`` says how). ``"other"``: you know they are not
            (scans, micrographs, fundus or dermoscopy photographs...), and those concepts are signals,
            never findings. ``"photos"``: they are, every concept may be reported, and the people,
            pose, face, object and OpenCV cascade models run on every image (not only where the domain
            model sees a photo, ``concepts.gate``).
        model: an image-text model (CLIP, SigLIP, MONET ...: a local folder or a model-hub id, e.g.
            ``"google/siglip-base-patch16-224"``) whose similarity to each phrase of ``vocabulary`` is a
            concept too (``concepts.imagetext``), and whose image embeddings join the "any difference at
            all?" classifier's. Added to the default library (or to ``library``'s sources). None: the
            offline default alone.
        vocabulary: the phrases ``model`` scores: a list of phrases, a file (one phrase per line, ``#``
            comments; it replaces the shipped list), ``"builtin"`` (the shipped list, the default) or
            ``"builtin:dermoscopy,radiology"`` (some of its sections); see ``concepts.vocabulary``.
        allow_download: let ``model``, a hub id, be downloaded into the hub library's cache; by default
            only a copy already there is used (a clear error says how to get it otherwise).

        llm: the base URL of an OpenAI-compatible chat endpoint (vLLM, Ollama, a llama.cpp server, a hosted
            API; key from ``$TELLAPART_LLM_KEY`` or ``$OPENAI_API_KEY``) that proposes new hypotheses from
            the discovery half (``tellapart.propose``). With an image-text model (``model``) each proposed
            phrase is scored by it and tested on the validation half as a family of its own with
            ``propose.PROPOSAL_ALPHA_SHARE`` of ``alpha`` (Holm), the library's family with the rest, so the
            chance of any false finding stays within ``alpha`` (with ``design="split"`` and BH, the false
            discovery rate: at most BH's plus Holm's share); without one, each proposal is matched to
            the nearest library concept (already tested) and listed in ``Result.notes``. A server that is
            down, slow or unwilling costs nothing but a note: the run goes on without proposals.
        llm_model, llm_timeout, llm_phrases: the model the endpoint serves (default: the first it
            lists), seconds to wait for it, and how many phrases to ask for.
        ray: score the images the cache lacks on a Ray cluster (``concepts.distributed.score_with_ray``;
            ``pip install 'tellapart[ray]'``): its address, or "auto" (the running Ray of this process,
            else ``ray.init()``: a local cluster unless ``RAY_ADDRESS`` names one). The scores go into the
            score cache, which the run then reads, so they are those a run without Ray gives. None: score
            in this process.

    Recorded metadata (a manifest's columns other than path, group and subject; DICOM header fields) are
    concepts of category ``metadata`` (``concepts.metadata``), phrased as the possible shortcuts they are.

    Every option is checked before any image is read (ValueError naming the option). A picture found
    twice in one set (a path listed twice, a link, a copy) counts once; the repeats are in ``skipped``.

    Returns:
        A ``Result`` whose ``findings`` DataFrame lists every validated hypothesis about a concept that may
        be reported in this run, significant first; ``signals`` the hypotheses about concepts nobody can
        name in these images (``tellapart.stats.reportable``: ImageNet names and synthetic-edit detectors
        on images that are not photos of everyday things, ``domain``; presence concepts no
        discovery image shows outright), each with its reason, validated and corrected as a family of
        their own.
    """
    check_alpha(alpha)
    check_at_least("seed", seed, 0)
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {', '.join(DESIGNS)}, got {design!r}")
    check_domain(domain)
    check_at_least("max_hypotheses", max_hypotheses, 1)
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {', '.join(sorted(CORRECTIONS))}, got {correction!r}")
    adjust_for = _check_adjust_for(adjust_for)
    check_ray(ray, use_cache)
    client = _chat_client(llm, llm_model, llm_timeout, llm_phrases, seed, adjust_for)
    sets = _as_sets(a, b)  # a bad set is named before a model is looked for (or downloaded)
    library = with_model(library, model, vocabulary, allow_download,
                         text_cache=(cache_dir or default_cache_dir()) if use_cache else None)
    if domain == "photos" and library.photo_gate is not None:
        # The user overrules the domain model, so it does not decide which images the people models see.
        library = library.rebuilt(gate=False)
    _check_columns_recorded(adjust_for, sets)
    describer = load_describer(describer)
    table = _score(library, sets, cache_dir, use_cache, progress, ray=ray)
    groups = table.groups
    concepts = {**library.concepts, **{cid: c for cid, (c, _) in table.metadata_concepts.items()}}
    thresholds = {cid: c.threshold for cid, c in concepts.items() if c.kind == "presence"}
    strata = None
    scores, concept_rows = table.scores, table.concepts
    if adjust_for:
        _check_columns_have_values(table, adjust_for)
        strata = stratified_strata(table.metadata, adjust_for)
        adjusting = [cid for cid, (_, column) in table.metadata_concepts.items() if column in adjust_for]
        scores = scores.drop(columns=adjusting)
        concept_rows = concept_rows.drop(index=adjusting)
    # The statistics on one BLAS thread (`stats.classifier.BLAS_THREADS`: their matrices are too small to
    # share; a warm run on 2 x 500 photos took 19.6 s with two threads, 3.4 s with one).
    with blas_threads():
        ranker = None if describer is None else describer.ranker(concept_rows)
        priority = concept_rows["priority"].to_dict()
        measured = domain_check(scores, concept_rows["category"],
                                embeddings=library.backbone_embeddings(table.embeddings))
        reportable, reasons, domain = reportable_concepts(
            scores, groups, concept_rows["category"], thresholds, seed,
            domain=declare_domain(measured, domain), design=design)
        # Proposed phrases an image-text model scores are a family of their own, with a share of alpha.
        share = PROPOSAL_ALPHA_SHARE if client is not None and image_text_source(library) is not None else 0.0
        tested = test_concepts(
            scores, groups, seed=seed, alpha=alpha * (1 - share), max_hypotheses=max_hypotheses,
            correction=correction, thresholds=thresholds, priority=priority, ranker=ranker,
            reportable=reportable, lead=lead_concepts(concept_rows["category"], domain), strata=strata,
            design=design,
        )
        if share:
            tested = scale_q_values(tested, 1 - share, alpha)
        # The "any difference at all?" classifier keeps its own discovery/validation split in both designs,
        # and proposals are made from its discovery half and tested on its validation half.
        validation = split_discovery_validation(groups, seed)
        tested_rows = validation if design == "split" else np.ones(len(groups), dtype=bool)
        images = table.images.assign(
            split=np.where(validation, "validation", "discovery") if design == "split" else "all")
        phrased = _phrase(tested, concepts, table.scores, images, tested_rows)
        family = tested["reportable"].to_numpy(dtype=bool)
        findings = phrased[family].reset_index(drop=True)
        signals = phrased[~family].reset_index(drop=True)
        signals = signals.assign(
            reason=[str(reasons.get(cid, "")) for cid in signals["concept"]])[SIGNAL_COLUMNS]
        with _opened_cache(cache_dir, use_cache) as cache:
            overall = _overall(table, images, validation, findings, tested, library.classifier_blocks,
                               seed=seed, alpha=alpha, correction=correction,
                               memo=None if cache is None else _StatsMemo(cache))
    backend = library.version + ("" if describer is None else f"; describer {describer.version}")
    notes, n_tested = _set_notes(sets), _family_size(tested)
    if client is not None:
        named = {cid: concepts[cid] for cid, shown in zip(scores.columns, reportable, strict=True) if shown}
        proposed = _propose(client, library, table, scores, validation, named, n=llm_phrases, alpha=alpha,
                            share=share, thresholds=thresholds, priority=priority)
        notes += proposed.notes
        if proposed.tested is not None:
            table = replace(table, scores=proposed.scores)
            concepts.update(proposed.concepts)
            extra = _phrase(proposed.tested, concepts, proposed.scores, images, validation)
            findings = pd.concat([findings, extra], ignore_index=True).sort_values(
                "significant", ascending=False, kind="stable").reset_index(drop=True)
            n_tested += len(proposed.tested)
    result = _result(table, images, findings, library, sets, seed=seed, alpha=alpha,
                     n_screened=int(tested.attrs.get("n_screened", scores.shape[1])), overall=overall,
                     backend=backend, signals=signals, domain=domain, adjusted_for=adjust_for,
                     concepts=concepts, design=design, n_tested=n_tested, notes=notes)
    _localise_examples(result, library)
    with _opened_cache(cache_dir, use_cache) as cache:
        _outline_examples(result, library, table.concepts, cache)
    return result


def _chat_client(llm: str | None, model: str | None, timeout: float, phrases: int, seed: int,
                 adjust_for: list[str]) -> ChatClient | None:
    """The proposer's client for ``llm`` (None without one), its options checked before any image is read."""
    if llm is None:
        return None
    if adjust_for:
        raise ValueError("llm= (CLI --llm) cannot be combined with adjust_for yet: proposals are tested "
                         "without strata")
    check_at_least("llm_phrases", phrases, 1)
    try:
        return ChatClient(llm, model=model, timeout=timeout, seed=seed)  # ValueError for a bad timeout
    except ProposerError as error:
        raise ValueError(str(error)) from None


@dataclass
class _Proposed:
    """What the proposer added to a run: notes for the user, and with an image-text model the proposed
    phrases' concepts, the score matrix with their columns, and their tested family (else None)."""

    notes: list[str]
    concepts: dict[str, Concept] = field(default_factory=dict)
    scores: pd.DataFrame | None = None
    tested: pd.DataFrame | None = None


def _propose(client: ChatClient, library: ConceptLibrary, table: ScoreMatrix, scores: pd.DataFrame,
             validation: np.ndarray, named: dict[str, Concept], *, n: int, alpha: float, share: float,
             thresholds: dict[str, float], priority: dict[str, int]) -> _Proposed:
    """Ask the language model for hypotheses from the discovery half (``validation`` False) of the reportable
    concepts ``named``; score them with the library's image-text model and test them on the validation half
    at ``alpha * share`` (``propose.validate_proposals``), or without one match each to a library concept.
    """
    from tellapart.concepts.imagetext import phrase_concepts
    from tellapart.propose import match_proposals, propose_from_discovery, validate_proposals

    groups = table.groups
    proposals = propose_from_discovery(client, scores, groups, ~validation, named, n=n, seed=client.seed)
    if not proposals.ok:
        spent = (f" The library's findings were tested at {1 - share:.0%} of alpha all the same: the share "
                 "is set aside before the model is asked." if share else "")
        return _Proposed([f"Language model: {proposals.note}{spent}"])
    source = image_text_source(library)
    if source is None:
        matched = match_proposals(proposals.phrases, named, encoder=library.text_encoder)
        lines = [f"'{phrase}' -> {named[cid].phrase} ({similarity:.2f})" for phrase, cid, similarity
                 in matched]
        return _Proposed([f"Language model {proposals.model} proposed {len(proposals.phrases)} hypotheses; "
                          "without an image-text model (--model) each is matched to the nearest concept, "
                          "already tested above: " + "; ".join(lines)])
    new = [replace(c, id=c.id + ".proposed") for c in phrase_concepts(proposals.phrases)]
    columns = library.embedding_slices()[source.name]
    similarity = source.similarity(proposals.phrases, table.embeddings[:, columns])
    extended = pd.concat([table.scores, pd.DataFrame(similarity, columns=[c.id for c in new],
                                                     index=table.scores.index)], axis=1)
    tested = validate_proposals(extended, groups, validation, [c.id for c in new], alpha=alpha, share=share,
                                thresholds=thresholds, priority=priority)
    note = (f"Language model {proposals.model} proposed {len(new)} phrases from the discovery half, scored "
            f"by {source.name} and tested on the validation half with {share:.0%} of alpha (Holm).")
    return _Proposed([note], {c.id: c for c in new}, extended, tested)


def _set_notes(sets: dict[str, ImageSet]) -> list[str]:
    """How each set's files were read as samples, when that changes the counts (``ImageSet.notes``)."""
    return [f"Set {label.upper()}: {note}" for label, image_set in sets.items() for note in image_set.notes]


def _family_size(tested: pd.DataFrame) -> int:
    """Hypotheses counted in the findings family's correction (``n_tested`` of its rows)."""
    family = tested[tested["reportable"].astype(bool)]
    return int(family["n_tested"].iloc[0]) if len(family) else 0


def verify(
    text: str,
    a: Any,
    b: Any,
    *,
    alpha: float = 0.05,
    top_k: int = 3,
    library: ConceptLibrary | None = None,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    progress: bool = True,
    model: str | os.PathLike | None = None,
    allow_download: bool = False,
) -> Result:
    """Test one hypothesis a person wrote (e.g. "set A images are darker") on all images.

    With an image-text model (``model``, or an ``ImageTextSource`` among ``library``'s sources) the text
    itself is scored: each image's similarity to it (``concepts.imagetext.hypothesis_phrase`` takes the
    phrase out of "set A images show more ... than set B", and the direction from its words) is tested on
    every image, one test. Without one, the text is matched to the ``top_k`` closest concepts with the
    bundled sentence model (the matches and their similarity are in ``Result.matches``) and each is tested
    on every image, with Benjamini-Hochberg over the ``top_k`` tests. No split is needed either way, since
    the hypothesis was not derived from these images; a test is two-sided unless the text names a direction.
    ``model`` and ``allow_download`` are as in `describe`.
    """
    check_alpha(alpha)
    check_at_least("top_k", top_k, 1)
    if not text or not text.strip():
        raise ValueError("The hypothesis text is empty: write the difference you expect, "
                         "e.g. 'darker images'.")
    sets = _as_sets(a, b)  # a bad set is named before any model loads
    library = with_model(library, model, None, allow_download,
                         text_cache=(cache_dir or default_cache_dir()) if use_cache else None)
    if image_text_source(library) is not None:
        return _verify_text(text, sets, alpha=alpha, library=library, cache_dir=cache_dir,
                            use_cache=use_cache, progress=progress)
    from tellapart.concepts.text_match import match_concepts, match_direction

    # Scored first: the concepts made from this run's images (the words read in them) can be matched too.
    table = _score(library, sets, cache_dir, use_cache, progress)
    candidates = [library.concepts[cid] for cid in table.scores.columns if cid in library.concepts]
    with _opened_cache(cache_dir, use_cache) as store:
        matched = match_concepts(text, candidates, top_k=top_k, store=store, encoder=library.text_encoder)
    directions = {}
    matches = []
    for concept, similarity in matched:
        sense = match_direction(text, concept, library.text_encoder)
        if sense is not None:
            directions[concept.id] = "a" if sense == "more" else "b"
        matches.append({"concept": concept.id, "phrase": concept.phrase, "similarity": float(similarity),
                        "direction": directions.get(concept.id)})
    ids = [m["concept"] for m in matches]
    tested = test_hypotheses_on_all(
        table.scores, table.groups, ids, alpha=alpha, directions=directions, thresholds=library.thresholds()
    )
    images = table.images.assign(split="all")
    everything = np.ones(len(images), dtype=bool)
    findings = _phrase(tested, library.concepts, table.scores, images, everything)
    result = _result(table, images, findings, library, sets, seed=0, alpha=alpha, n_screened=len(ids),
                     mode="verify", hypothesis=text, matches=matches)
    _localise_examples(result, library)
    with _opened_cache(cache_dir, use_cache) as cache:
        _outline_examples(result, library, table.concepts, cache)
    return result


def with_model(
    library: ConceptLibrary | None,
    model: str | os.PathLike | None,
    vocabulary: str | os.PathLike | Sequence[str] | None = None,
    allow_download: bool = False,
    text_cache: str | os.PathLike | None = None,
) -> ConceptLibrary:
    """Return ``library`` (default: the offline one) with an image-text source for ``model`` added, or
    ``library`` itself when ``model`` is None. The model is found (not yet loaded) here, so a wrong name
    is reported before any image is read (``concepts.imagetext.ModelNotAvailable``, a ValueError).
    ``text_cache``: where the vocabulary's text embeddings are kept between runs (``ImageTextSource``)."""
    if model is None:
        if vocabulary is not None:
            raise ValueError("a vocabulary is scored by an image-text model: give model= too (CLI --model)")
        return library or ConceptLibrary()
    from tellapart.concepts.imagetext import ImageTextSource
    from tellapart.concepts.library import default_sources

    if library is not None and image_text_source(library) is not None:
        raise ValueError("the library already has an image-text source; give model= or such a library, "
                         "not both")
    source = ImageTextSource(model, vocabulary, allow_download=allow_download, text_cache=text_cache)
    if library is None:
        return ConceptLibrary([*default_sources(), source])
    return library.rebuilt(sources=[*library.sources, source])


def image_text_source(library: ConceptLibrary) -> ImageTextSource | None:
    """Return the library's image-text source (``concepts.imagetext.ImageTextSource``), or None."""
    from tellapart.concepts.imagetext import ImageTextSource

    return next((s for s in library.sources if isinstance(s, ImageTextSource)), None)


def _verify_text(
    text: str, sets: dict[str, ImageSet], *, alpha: float, library: ConceptLibrary,
    cache_dir: str | os.PathLike | None, use_cache: bool, progress: bool,
) -> Result:
    """`verify` with an image-text model: the text's own similarity to each image, tested on all images.

    The images' embeddings come from the score matrix (cached with the vocabulary's scores), so only the
    text goes through the model's text encoder.
    """
    from tellapart.concepts.imagetext import hypothesis_phrase, phrase_concept, phrase_id

    source = image_text_source(library)
    phrase, direction = hypothesis_phrase(text)
    table = _score(library, sets, cache_dir, use_cache, progress)
    columns = library.embedding_slices()[source.name]
    concept = phrase_concept(phrase, phrase_id(phrase) + ".hypothesis")
    scores = table.scores.copy()
    scores[concept.id] = source.similarity([phrase], table.embeddings[:, columns])[:, 0]
    concepts = {**library.concepts, concept.id: concept}
    directions = {concept.id: direction} if direction else {}
    tested = test_hypotheses_on_all(scores, table.groups, [concept.id], alpha=alpha, directions=directions,
                                    thresholds=library.thresholds())
    images = table.images.assign(split="all")
    findings = _phrase(tested, concepts, scores, images, np.ones(len(images), dtype=bool))
    matches = [{"concept": concept.id, "phrase": concept.phrase, "similarity": None, "direction": direction}]
    return _result(replace(table, scores=scores), images, findings, library, sets, seed=0, alpha=alpha,
                   n_screened=1, mode="verify", hypothesis=text, matches=matches, concepts=concepts)


def _check_adjust_for(columns: Sequence[str] | None) -> list[str]:
    """The adjusting columns as a list of names (empty for None); ValueError for anything else."""
    if columns is None:
        return []
    if isinstance(columns, str):
        columns = [columns]
    names = list(columns)
    if not names or any(not isinstance(c, str) or not c.strip() for c in names):
        raise ValueError(f"adjust_for must name metadata columns (e.g. ['scanner']), got {columns!r}")
    return list(dict.fromkeys(names))


def _check_columns_recorded(columns: list[str], sets: dict[str, ImageSet]) -> None:
    """Before any image is read: each adjusting column must be a manifest column of some image, or a DICOM
    header field tellapart reads (whose presence is known only once the files are read)."""
    recorded = {name for s in sets.values() for ref in s.refs
                for part in (ref, *ref.members) for name in part.metadata}
    unknown = [c for c in columns if c not in recorded and c not in HEADER_FIELDS]
    if unknown:
        known = ", ".join(sorted(recorded)) or "none (give a manifest with extra columns)"
        raise ValueError(f"adjust_for: no metadata column {', '.join(map(repr, unknown))}; the images have: "
                         f"{known}; DICOM header fields: {', '.join(HEADER_FIELDS)}")


def _check_columns_have_values(table: ScoreMatrix, columns: list[str]) -> None:
    """Raise ValueError naming an adjusting column no image has a value for (a DICOM field not in these
    files' headers)."""
    empty = [c for c in columns if c not in table.metadata.columns or table.metadata[c].isna().all()]
    if empty:
        raise ValueError(f"adjust_for: no image has a value for {', '.join(map(repr, empty))}")


def check_alpha(alpha: float, name: str = "alpha") -> None:
    """Raise ValueError (naming ``name``) unless ``alpha`` is a number strictly between 0 and 1."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.number)) or not 0 < alpha < 1:
        raise ValueError(f"{name} must be a number between 0 and 1 (e.g. 0.05), got {alpha!r}")


def check_at_least(name: str, value: Any, minimum: int) -> None:
    """Raise ValueError (naming ``name`` and the rule) unless ``value`` is None or a whole number of at least
    ``minimum``: the check every count and seed gets before any image is read."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}, got {value!r}")


def _as_sets(a: Any, b: Any) -> dict[str, ImageSet]:
    """Both sets as ImageSets; in-memory images are named per set ("<memory:A3>") so sources stay unique."""
    sets = {}
    for label, spec in (("a", a), ("b", b)):
        image_set = spec if isinstance(spec, ImageSet) else ImageSet.from_spec(spec)
        if any(ref.path is None for ref in image_set.refs):
            prefix = f"<memory:{label.upper()}"
            refs = [
                ref if ref.path is not None else replace(ref, source=ref.source.replace("<memory:", prefix))
                for ref in image_set.refs
            ]
            image_set = ImageSet(refs, image_set.skipped, image_set.name, image_set.notes)
        sets[label] = image_set
    return sets


def _score(
    library: ConceptLibrary,
    sets: dict[str, ImageSet],
    cache_dir: str | os.PathLike | None,
    use_cache: bool,
    progress: bool,
    ray: str | None = None,
) -> ScoreMatrix:
    """Score both sets (with the cache and a progress bar; with ``ray``, the images the cache lacks on a
    Ray cluster first), each picture counted once per set (``once_per_set``: a repeat is listed as skipped,
    with the image it repeats; a picture in both sets stays in both and is reported by ``_duplicates``,
    ``Result.duplicates``, as which set it belongs to is not ours to decide), and check each set has enough
    readable images; return the score matrix."""
    total = sum(len(s.refs) for s in sets.values())
    bar = _progress_bar(total, progress)
    try:
        with _opened_cache(cache_dir, use_cache) as cache:
            table = score_sets(library, sets, cache, ray=ray, bar=bar, once_per_set=True)
    finally:
        if bar is not None:
            bar.close()
    for label, image_set in sets.items():
        n = int((table.images["set"] == label).sum())
        if n < MIN_IMAGES:
            raise TooFewImagesError(_too_few_message(label, image_set, n, table.skipped))
    return table


@contextmanager
def _opened_cache(cache_dir: str | os.PathLike | None, use_cache: bool) -> Iterator[ScoreCache | None]:
    """The score cache of ``cache_dir`` (default `default_cache_dir`) while the block runs; None without
    one (``use_cache=False``)."""
    cache = ScoreCache(cache_dir or default_cache_dir()) if use_cache else None
    try:
        yield cache
    finally:
        if cache is not None:
            cache.close()


def _progress_bar(total: int, enabled: bool) -> Any:
    if not enabled or total == 0:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="img", desc="Scoring images", leave=False)


def _too_few_message(label: str, image_set: ImageSet, n: int, skipped: pd.DataFrame) -> str:
    mine = skipped[skipped["set"] == label]
    lines = [
        f"Set {label.upper()} ({printable(image_set.name)}) has {n} readable image{'s' if n != 1 else ''}; "
        f"at least {MIN_IMAGES} are needed to test differences on held-out images."
    ]
    if len(mine):
        lines.append(f"{len(mine)} file(s) were skipped:")
        lines += [f"  {printable(row.source)}: {printable(row.reason)}" for row in mine.head(20).itertuples()]
        if len(mine) > 20:
            lines.append(f"  ... and {len(mine) - 20} more")
    return "\n".join(lines)


def _phrase(
    tested: pd.DataFrame,
    concepts: dict[str, Concept],
    scores: pd.DataFrame,
    images: pd.DataFrame,
    shown: np.ndarray,
) -> pd.DataFrame:
    """Add the sentence, the concept's phrase and kind, and example images to each tested hypothesis."""
    records = []
    groups = images["set"].to_numpy()
    for row in tested.itertuples(index=False):
        concept = concepts[row.concept]
        ci = (float(row.auroc_ci_low), float(row.auroc_ci_high))
        text = finding_sentence(
            concept, row.direction, float(row.auroc), ci, float(row.q_value),
            median_a=float(row.median_a), median_b=float(row.median_b),
            share_a=float(row.share_a), share_b=float(row.share_b),
            auroc_unadjusted=float(row.auroc_unadjusted),
        )
        examples = _examples(scores[row.concept].to_numpy(), groups, shown, images["source"], row.direction)
        records.append({
            "text": text, "concept": row.concept, "phrase": concept.phrase, "kind": concept.kind,
            "category": concept.category, "direction": row.direction, "auroc": float(row.auroc),
            "auroc_ci": ci,
            "p_value": float(row.p_value), "q_value": float(row.q_value), "weight": float(row.weight),
            "significant": bool(row.significant),
            "explained_by": row.explained_by if isinstance(row.explained_by, str) else None,
            "share_a": float(row.share_a), "share_b": float(row.share_b),
            "median_a": float(row.median_a), "median_b": float(row.median_b),
            "examples_a": examples[0], "examples_b": examples[1],
            "auroc_unadjusted": float(row.auroc_unadjusted),
            "p_value_unadjusted": float(row.p_value_unadjusted),
        })
    return pd.DataFrame.from_records(records, columns=FINDING_COLUMNS)


def _overall(
    table: ScoreMatrix,
    images: pd.DataFrame,
    validation: np.ndarray,
    findings: pd.DataFrame,
    tested: pd.DataFrame,
    blocks: tuple[int, ...] | None,
    *,
    seed: int,
    alpha: float,
    correction: str,
    memo: Memo | None = None,
) -> Overall | None:
    """Test for any difference from the image embeddings, and how much of it the reported findings explain,
    measured on validation images that did not declare them (``stats.classifier``'s cross-fitting). With a
    ``memo``, what was fitted and declared for the same inputs before is read back (`_declared_folds`,
    ``difference_test``'s ``memo``)."""
    if table.embeddings is None:
        return None
    from tellapart.stats.classifier import difference_test

    named = findings[findings["significant"] & findings["explained_by"].isna()]
    named_ids = list(dict.fromkeys(named["concept"]))
    hypotheses = list(dict.fromkeys(findings["concept"])) if named_ids else []
    folds = None
    if hypotheses:
        declared = _declared_folds(table.scores, table.groups, validation, tested, alpha=alpha,
                                   correction=correction, seed=seed, memo=memo)
        column = {cid: i for i, cid in enumerate(hypotheses)}
        folds = [(rows, [column[cid] for cid in ids]) for rows, ids in declared]
    test = difference_test(table.embeddings, table.groups, validation,
                           named_scores=table.scores[hypotheses].to_numpy(), blocks=blocks, seed=seed,
                           alpha=alpha, named_folds=folds, memo=memo)
    sources = images["source"]
    status = _overall_status(test, len(named_ids))
    return Overall(
        status=status,
        text=overall_sentence(status, test),
        significant=test.significant,
        auroc=test.auroc,
        auroc_ci=test.auroc_ci,
        p_value=test.p_value,
        named_auroc=test.named_auroc,
        explained_share=test.explained_share,
        named_concepts=named_ids,
        most_a_like=[str(sources.iloc[i]) for i in test.most_a_like],
        most_b_like=[str(sources.iloc[i]) for i in test.most_b_like],
        n_features=test.n_features,
        n_discovery=test.n_discovery,
        n_validation=test.n_validation,
        c=test.c,
        reason=test.reason,
    )


class _StatsMemo:
    """``stats.classifier.Memo`` in the score cache (``ScoreCache.recall`` / ``remember``), every key
    salted with `_memo_salt`: what decides the numbers besides the inputs the keys name."""

    def __init__(self, cache: ScoreCache) -> None:
        self.cache, self.salt = cache, _memo_salt()

    def recall(self, key: str) -> bytes | None:
        """Return the bytes kept under ``key`` by this code, or None."""
        return self.cache.recall(f"{self.salt}:{key}")

    def remember(self, key: str, data: bytes) -> None:
        """Keep ``data`` under ``key`` for this code."""
        self.cache.remember(f"{self.salt}:{key}", data)


def _memo_salt() -> str:
    """The version of the memoised statistics: the code of ``stats.classifier`` and ``stats.contract`` with
    everything they import, the numeric libraries' versions and the BLAS threads the fits run on."""
    from tellapart.concepts.versioning import derive_version, package_version, runtime_fingerprint
    from tellapart.stats.classifier import BLAS_THREADS

    libraries = "; ".join(f"{name} {package_version(name)}" for name in ("scikit-learn", "threadpoolctl"))
    return derive_version("stats", modules=["tellapart.stats.classifier", "tellapart.stats.contract"],
                          salts={"runtime": runtime_fingerprint(), "libraries": libraries,
                                 "blas_threads": str(BLAS_THREADS)})


def _declared_folds(
    scores: pd.DataFrame, groups: np.ndarray, validation: np.ndarray, tested: pd.DataFrame, *, alpha: float,
    correction: str, seed: int, memo: Memo | None,
) -> list[tuple[np.ndarray, list[str]]]:
    """``stats.contract.named_on_folds`` of these inputs, or with a ``memo`` what it returned for the same
    inputs before (keyed by a digest of all of them; on brain MRI it took 4-6 s of a warm run)."""
    from tellapart.stats.classifier import digest
    from tellapart.stats.contract import named_on_folds

    # named_on_folds reads only the findings family's columns: those, as stored, go into the key.
    family = tested[tested["reportable"].astype(bool)] if "reportable" in tested else tested
    ids = [cid for cid in family["concept"] if cid in scores.columns]
    key = "contract.named_on_folds:" + digest(
        scores[ids].to_numpy(), ids, np.asarray(groups, dtype=str),
        np.asarray(validation, dtype=bool), tested.to_csv(), alpha, correction, seed)
    kept = None if memo is None else memo.recall(key)
    if kept is not None:
        return [(np.isin(np.arange(len(groups)), rows), ids) for rows, ids in json.loads(kept)]
    declared = named_on_folds(scores, groups, validation, tested, alpha=alpha, correction=correction,
                              seed=seed)
    if memo is not None:
        memo.remember(key, json.dumps([[np.flatnonzero(rows).tolist(), list(ids)]
                                       for rows, ids in declared]).encode())
    return declared


# The named findings "explain" the difference when they reproduce at least this share of the image
# classifier's separation above chance; under WEAK_SHARE they explain "little of it".
EXPLAINED_SHARE = 0.8
WEAK_SHARE = 0.25


def _overall_status(test: DifferenceTest, n_named: int) -> str:
    if test.reason:
        return "unavailable"
    if not test.significant:
        return "named_only" if n_named else "none"
    share = test.explained_share or 0.0
    if n_named == 0 or share == 0.0:
        return "unexplained"
    return "explained" if share >= EXPLAINED_SHARE else "partly"


def overall_sentence(status: str, test: DifferenceTest) -> str:
    """Return the one-line answer to "is there any difference at all?" (``Overall.text``)."""
    if status == "unavailable":
        return f"The whole-image difference test did not run: {test.reason}."
    low, high = test.auroc_ci
    evidence = f"image classifier AUROC {test.auroc:.2f} [{low:.2f}, {high:.2f}] on held-out images"
    p = format_p(test.p_value, "p")
    share = test.explained_share
    if status == "none":
        return (f"No difference detected: a classifier trained on the images themselves tells the sets apart "
                f"no better than chance ({evidence}, {p}), and no named finding is significant.")
    if status == "named_only":
        return (f"The image classifier alone did not detect a difference ({evidence}, {p}); the named "
                "findings are the evidence.")
    if status == "unexplained":
        return (f"A difference exists that no named finding describes: {evidence} ({p}); see the images it "
                "finds most A-like and most B-like.")
    held_out = "measured on held-out images that did not choose them"
    if status == "partly":
        how = "only partly" if share >= WEAK_SHARE else "little of it"
        return (f"A difference exists ({evidence}, {p}) that the named findings explain {how} "
                f"({share:.0%}, {held_out}).")
    return (f"A difference exists and the named findings explain it: {evidence} ({p}); they reproduce "
            f"{share:.0%} of its separation ({held_out}).")


def _examples(
    values: np.ndarray, groups: np.ndarray, shown: np.ndarray, sources: pd.Series, direction: str
) -> tuple[list[str], list[str]]:
    """The set that shows more of the concept: its highest-scoring images; the other set: its lowest."""
    picks = []
    for label in ("a", "b"):
        rows = np.flatnonzero(shown & (groups == label))
        order = np.argsort(values[rows], kind="stable")
        if label == direction:
            order = order[::-1]
        picks.append([str(sources.iloc[i]) for i in rows[order[:N_EXAMPLES]]])
    return picks[0], picks[1]


def _result(
    table: ScoreMatrix,
    images: pd.DataFrame,
    findings: pd.DataFrame,
    library: ConceptLibrary,
    sets: dict[str, ImageSet],
    **fields: Any,
) -> Result:
    return Result(
        findings=findings,
        scores=table.scores,
        images=images,
        skipped=table.skipped,
        duplicates=_duplicates(images),
        n_a=int((images["set"] == "a").sum()),
        n_b=int((images["set"] == "b").sum()),
        sets=sets,
        embeddings=library.backbone_embeddings(table.embeddings),
        embedding_blocks=library.embedding_blocks,
        embedding_version=library.embedding_version,
        degraded=table.degraded,
        **{"backend": library.version, "concepts": library.concepts, **fields},
    )


def _localise_examples(result: Result, library: ConceptLibrary) -> None:
    """Store where each significant embedding-detector finding (learned or saved) fires in its example
    images (``Result.localisation``, maps on the backbone's grid), so the report need not run a model.

    An example that cannot be read again is listed in ``Result.degraded`` (the report shows it plain).
    """
    detectors = library.learned
    if detectors is None or not len(result.findings):
        return
    ids = {c.id for c in detectors.concepts}
    backbone = getattr(library.embedder, "backbone", None)
    significant = result.findings[result.findings["significant"].astype(bool)]
    lost = []
    for row in significant.itertuples(index=False):
        if row.concept not in ids:
            continue
        pixels = {}
        for source in dict.fromkeys([*row.examples_a, *row.examples_b]):
            found = result.load_pixels(source)
            if found is None:
                lost.append(("", source, f"could not be read again to localise {row.concept}"))
            else:
                pixels[source] = found
        if pixels:
            maps = detectors.localise(list(pixels.values()), row.concept, "grid", backbone=backbone)
            result.localisation[row.concept] = dict(zip(pixels, maps, strict=True))
    if lost:
        result.degraded = pd.concat([result.degraded, pd.DataFrame(lost, columns=DEGRADED_COLUMNS)],
                                    ignore_index=True)


def _outline_examples(
    result: Result,
    library: ConceptLibrary,
    concepts: pd.DataFrame,
    cache: ScoreCache | None = None,
) -> None:
    """Store the outline of the region each significant finding measured on its example images
    (``Result.outlines``), for findings whose concept source offers ``outlines(image, concept_ids)`` (an
    optional capability of a source, like ``weight_files``: it returns, per concept id, the contours of the
    region it measured on that image as (k, 2) arrays of (x, y) image fractions). Each example is decoded
    at most once and each source asked once per image, for all its concepts; the report only draws the
    result.

    With a ``cache``, outlines are read from it first, by the image's content key and the source's cache
    version (``concepts``: the score matrix's concept table, which names it), and those drawn afresh on
    an image decoded without degradation are stored: a warm run decodes no example (on brain MRI this
    was about 3 s of a 7 s warm run).

    An example that cannot be read again is listed in ``Result.degraded`` (the report shows it plain).
    """
    outliners = library.outliners()
    if not outliners or not len(result.findings):
        return
    significant = result.findings[result.findings["significant"].astype(bool)]
    wanted: dict[str, dict[int, list[str]]] = {}
    for row in significant.itertuples(index=False):
        source = outliners.get(row.concept)
        if source is None:
            continue
        for image in dict.fromkeys([*row.examples_a, *row.examples_b]):
            wanted.setdefault(image, {}).setdefault(id(source), []).append(row.concept)
    by_id = {id(source): source for source in outliners.values()}
    keys = dict(zip(result.images["source"], result.images["key"], strict=True))
    # A source's outlines are cached under its cache version, as its scores are, and the rounding they are
    # stored with (none: not cached).
    rounding = function_fingerprint(round_contours)
    versions = {sid: f"{version}+{rounding}" if (version := concepts["source_version"].get(cids[0])) else None
                for per_source in wanted.values() for sid, cids in per_source.items()}
    cached = _cached_outlines(cache, wanted, by_id, keys, versions)
    lost, fresh = [], []
    for image_source, per_source in wanted.items():
        key = keys.get(image_source)
        drawn = {sid: {cid: cached[sid][(key, cid)] for cid in cids if (key, cid) in cached[sid]}
                 for sid, cids in per_source.items()}
        missing = {sid: [cid for cid in cids if cid not in drawn[sid]] for sid, cids in per_source.items()}
        if any(missing.values()):
            image = result.load_image(image_source)
            if image is None:
                lost.append(("", image_source, "could not be read again to outline "
                             + ", ".join(cid for ids in per_source.values() for cid in ids)))
                continue
            for sid, cids in missing.items():
                if cids:
                    new = {cid: round_contours(c) for cid, c in by_id[sid].outlines(image, cids).items()}
                    drawn[sid].update(new)
                    if key is not None and versions[sid] and not image.notes:
                        fresh += [(sid, key, cid, contours) for cid, contours in new.items()]
        for sid, cids in per_source.items():
            # In the order the source was asked, as when every outline is drawn afresh.
            for concept_id in (cid for cid in cids if cid in drawn[sid]):
                result.outlines.setdefault(concept_id, {})[image_source] = drawn[sid][concept_id]
    _store_outlines(cache, fresh, by_id, versions)
    if lost:
        result.degraded = pd.concat([result.degraded, pd.DataFrame(lost, columns=DEGRADED_COLUMNS)],
                                    ignore_index=True)


def _cached_outlines(
    cache: ScoreCache | None,
    wanted: dict[str, dict[int, list[str]]],
    by_id: dict[int, Any],
    keys: dict[str, str],
    versions: dict[int, str],
) -> dict[int, dict[tuple[str, str], list]]:
    """Per outlining source (by ``id``): the cached outlines of the wanted images, by (key, concept id)."""
    found: dict[int, dict[tuple[str, str], list]] = {sid: {} for sid in by_id}
    if cache is None:
        return found
    for sid, source in by_id.items():
        images = [keys[image] for image, per_source in wanted.items() if sid in per_source and image in keys]
        concept_ids = sorted({cid for per_source in wanted.values() for cid in per_source.get(sid, ())})
        if images and versions.get(sid):
            found[sid] = cache.get_outlines(images, source.name, versions[sid], concept_ids)
    return found


def _store_outlines(
    cache: ScoreCache | None, fresh: list[tuple[int, str, str, list]], by_id: dict[int, Any],
    versions: dict[int, str],
) -> None:
    """Write the freshly drawn (source id, key, concept id, contours) outlines to the cache."""
    if cache is None:
        return
    for sid, source in by_id.items():
        rows = [(key, cid, contours) for s, key, cid, contours in fresh if s == sid]
        if rows:
            cache.put_outlines(rows, source.name, versions[sid])


def _duplicates(images: pd.DataFrame) -> pd.DataFrame:
    """Images whose content is identical in set A and set B."""
    a = images[images["set"] == "a"][["key", "source"]]
    b = images[images["set"] == "b"][["key", "source"]]
    both = a.merge(b, on="key", suffixes=("_a", "_b"))
    return both[["key", "source_a", "source_b"]].reset_index(drop=True)

