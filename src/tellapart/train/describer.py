"""Train the learned describer on synthetic pairs of sets, with a curriculum.

1. A *bank* of scored images: every base image of a pool, unedited, and once per synth family, edited at
   a random strength (plus unedited images of a third pool that dilutes sets). Every row is scored once by
   the full concept library (cached by content hash).
2. *Tasks*: pairs of sets assembled from bank rows with known differences, exactly as the benchmark draws
   them (strength, purity, concentration, one or two edits; A and B randomly swapped so the describer
   cannot learn "set A is the edited one"). Only a task's discovery view is used: the concepts passing the
   discovery screen (``stats.contract.screen``), their ``discovery_features`` and which are true.
   Approximation: an image drawn for two edits carries one of them (each bank row carries one edit).
   An edit is named by its concepts and by the learned detectors that state it
   (``synth.answers.detector_answers``); in ``UNSEEN_SHARE`` of the tasks the edited family's own
   detector is left out, as for a difference no detector was trained on. Content tasks (categories split
   or contrasted, in the photos and in a clip-art pool) teach that not only edits are ever the cause.
3. *Training*: the describer's scores over a task's candidates go through a softmax; the loss is minus the
   log of the probability mass on the true concepts (Acc@1 is what this optimises). Adam, full batches of
   tasks, deterministic for a seed.
4. *Curriculum*: stages from the benchmark's easy tier to its hard tier (strong, pure, single edits first;
   then smaller, rarer, more diluted and more numerous). Training stays on a stage (with a share of
   earlier stages' tasks, so it does not forget) until held-out Acc@1 on that stage passes its threshold
   or stops improving; every evaluation is logged. ``curriculum=False`` draws every batch from all stages
   alike, with the same number of tasks: the curves of the two are what ``benchmarks/curriculum.py`` shows.

Held-out accuracy is measured on tasks built from base images no training task uses. The default pools
(``training_pools``) are the "train" part of the bundled photos and textiles (``synth.pools``): no source
photo the benchmark edits is ever seen in training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tellapart.concepts.learned import detector_id
from tellapart.stats.contract import screen
from tellapart.stats.describer import (
    DESCRIBER_SCREEN_LEVEL,
    FEATURES,
    KINDS,
    LearnedDescriber,
    concept_kinds,
    discovery_features,
)
from tellapart.synth.answers import detector_answers
from tellapart.synth.tiers import TIER_SPECS

HIDDEN = 16
STRENGTH_RANGE = (0.08, 1.0)  # every bank edit is drawn at a strength in this range
DISCOVERY_SIZES = (20, 30, 50)  # images per set in a task's discovery half (bench: 40 or 100 per set)
EVAL_TASKS = 80  # held-out tasks per stage
FINDING_TASKS = 20  # training tasks per saved finding (``tellapart train --findings-store``)
CONTENT_COLUMNS, CONTENT_TASKS = 40, 3  # content-difference tasks: columns, tasks per column
CONTRAST_TASKS = 120  # tasks contrasting two content columns
# A content task needs at least this many images per set: under it the discovery screen has no power.
MIN_TASK_SET = 8
# Training batches. At 300 the curriculum stops at medium-hard. 600 reaches the hard stage and scores better
# on synthetic pairs, but it ranks semantic classes over the face detector on lfw faces and loses on the
# real category pairs (2026-11-22), so 300 stays.
N_BATCHES = 300
UNSEEN_SHARE = 0.5  # share of edit tasks without the edited families' own learned detectors


DILUTION, CONTENT = -1, -2  # ``Bank.base`` of the rows of the diluting and the content pools


@dataclass(frozen=True)
class Stage:
    """How a curriculum stage draws its tasks (ranges sampled uniformly per task)."""

    name: str
    strength: tuple[float, float]
    purity: tuple[float, float]
    concentration: tuple[float, float]
    two_edit_share: float
    advance_at: float  # share of the stage's reachable held-out Acc@1 that moves training to the next one


def curriculum_stages() -> tuple[Stage, ...]:
    """The stages, easiest first; the first, third and last are the benchmark's tiers."""
    easy, medium, hard = (TIER_SPECS[t] for t in ("easy", "medium", "hard"))
    return (
        Stage("easy", easy.strength, easy.purity, easy.concentration, easy.two_edit_share, 0.8),
        Stage("easy-medium", (0.5, 0.85), (0.8, 1.0), (0.9, 1.0), 0.1, 0.75),
        Stage("medium", medium.strength, medium.purity, medium.concentration, 0.25, 0.7),
        Stage("medium-hard", (0.2, 0.5), (0.4, 0.75), (0.6, 0.9), 0.4, 0.7),
        Stage("hard", hard.strength, hard.purity, hard.concentration, hard.two_edit_share, 2.0),
    )


@dataclass
class Bank:
    """Scored images for assembling tasks.

    Attributes:
        scores: float32 (rows, concepts).
        concept_ids: the columns.
        kinds: ``concept_kinds`` of the columns; thresholds: presence threshold per column (NaN if none).
        base: base image index per row (``DILUTION`` / ``CONTENT`` for rows of those pools); family: the
            edit ("" when unedited);
        strength: the edit's strength (NaN when unedited).
    """

    scores: np.ndarray
    concept_ids: list[str]
    kinds: np.ndarray
    thresholds: np.ndarray
    base: np.ndarray
    family: np.ndarray
    strength: np.ndarray
    truths: dict[str, list[tuple[tuple[str, ...], str]]] = field(default_factory=dict)

    def rows(self, base: int, family: str) -> int:
        """Index of the row of ``base`` with edit ``family`` ("" = unedited)."""
        return int(self._index[(base, family)])

    def __post_init__(self) -> None:
        pairs = zip(self.base, self.family, strict=True)
        self._index = {(int(b), str(f)): i for i, (b, f) in enumerate(pairs) if b >= 0}

    @property
    def content_rows(self) -> np.ndarray:
        """The rows of the content pool (unedited images of another domain, for content tasks)."""
        return np.flatnonzero(self.base == CONTENT)

    @property
    def n_bases(self) -> int:
        return int(self.base.max()) + 1

    @property
    def families(self) -> list[str]:
        return sorted({f for f in self.family if f})


def build_bank(
    pool: Sequence[np.ndarray],
    dilution: Sequence[np.ndarray],
    families: Sequence[str],
    library,
    *,
    content: Sequence[np.ndarray] = (),
    seed: int = 0,
    cache=None,
    progress: bool = True,
    ray: str | None = None,
) -> Bank:
    """Edit every pool image once per family (random strength), score everything; return the bank.

    ``dilution`` images are added unedited to dilute sets; ``content`` images (unedited, another domain)
    only serve content tasks. ``ray`` (an address or "auto"; needs ``cache``) scores the images the cache
    lacks on a Ray cluster (``concepts.distributed.score_sets``).
    """
    from tellapart.concepts.distributed import score_sets
    from tellapart.io import ImageSet
    from tellapart.synth import get_family

    rng = np.random.default_rng(seed + 7)
    images, base, family, strength = [], [], [], []
    for i, image in enumerate(pool):
        images.append(image)
        base.append(i), family.append(""), strength.append(np.nan)
        for name in families:
            s = float(rng.uniform(*STRENGTH_RANGE))
            images.append(get_family(name).apply(image, rng, s))
            base.append(i), family.append(name), strength.append(s)
    for marker, extra in ((DILUTION, dilution), (CONTENT, content)):
        for image in extra:
            images.append(image)
            base.append(marker), family.append(""), strength.append(np.nan)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(images), unit="img", desc="Scoring the training bank", leave=False)
    try:
        table = score_sets(library, {"bank": ImageSet.from_spec(images, name="bank")}, cache, ray=ray,
                           bar=bar)
    finally:
        if bar is not None:
            bar.close()
    if len(table.images) != len(images):
        raise RuntimeError(f"{len(images) - len(table.images)} bank images could not be scored")
    ids = list(table.scores.columns)
    thresholds = library.thresholds()
    truths = {}
    for name in families:
        difference = get_family(name).difference(1.0)
        # Learned detectors that state the same difference name it too (the benchmark's credit).
        truths[name] = [(tuple(difference.concepts), difference.direction)]
        truths[name] += [((cid,), direction) for cid, direction in sorted(detector_answers(difference))]
    return Bank(
        table.scores.to_numpy(dtype=np.float32), ids, concept_kinds(table.concepts),
        np.array([thresholds.get(c, np.nan) for c in ids], dtype=np.float64),
        np.asarray(base), np.asarray(family, dtype=object), np.asarray(strength), truths,
    )


@dataclass
class Task:
    """One synthetic pair seen through the discovery screen: candidate features and which are true."""

    features: np.ndarray
    positive: np.ndarray
    families: tuple[str, ...]
    stage: str


def _pick_edited(bank: Bank, bases: np.ndarray, name: str, count: int, bounds: tuple[float, float],
                 rng: np.random.Generator) -> np.ndarray:
    """``count`` of ``bases`` to edit with ``name``, preferring rows whose strength lies in ``bounds``."""
    strengths = np.array([bank.strength[bank.rows(int(b), name)] for b in bases])
    centre = (bounds[0] + bounds[1]) / 2
    distance = np.where((strengths >= bounds[0]) & (strengths <= bounds[1]), 0.0, np.abs(strengths - centre))
    order = np.lexsort((rng.random(len(bases)), distance))
    return order[:count]


def make_task(bank: Bank, stage: Stage, bases: np.ndarray, families: Sequence[str],
              rng: np.random.Generator) -> Task:
    """Draw one pair from ``bases`` (base image indices) with edits from ``families``; return its task."""
    n = int(rng.choice([s for s in DISCOVERY_SIZES if 2 * s <= len(bases)] or [len(bases) // 2]))
    n_edits = 2 if rng.random() < stage.two_edit_share and len(families) > 1 else 1
    names = list(rng.choice(list(families), n_edits, replace=False))
    purity, concentration = (float(rng.uniform(*r)) for r in (stage.purity, stage.concentration))
    primary = max(2, round(concentration * n))
    chosen = rng.choice(bases, 2 * primary, replace=False)
    a_bases, b_bases = chosen[:primary], chosen[primary:]
    a_rows = clean_rows(bank, a_bases)
    n_edit = max(1, round(purity * primary))
    for name in names:
        for i in _pick_edited(bank, a_bases, name, n_edit, stage.strength, rng):
            if bank.family[a_rows[i]] == "" or rng.random() < 0.5:
                a_rows[i] = bank.rows(int(a_bases[i]), name)
    b_rows = clean_rows(bank, b_bases)
    extra = n - primary
    if extra > 0:
        dilution = np.flatnonzero(bank.base == DILUTION)
        picked = rng.choice(dilution, 2 * extra, replace=len(dilution) < 2 * extra)
        a_rows, b_rows = np.concatenate([a_rows, picked[:extra]]), np.concatenate([b_rows, picked[extra:]])
    truths = [truth for name in names for truth in bank.truths[name]]
    # Edits no learned detector was trained on: the edited families' own detectors are left out of some
    # tasks, so the describer also learns to name an edit from the other concepts (a user's difference is
    # seldom one of the synth families).
    hidden = [bank.concept_ids.index(detector_id(name)) for name in names
              if detector_id(name) in bank.concept_ids] if rng.random() < UNSEEN_SHARE else []
    return _task(bank, a_rows, b_rows, truths, tuple(names), stage.name, rng, hidden)


def _task(bank: Bank, a_rows: np.ndarray, b_rows: np.ndarray, truths: Sequence[tuple[tuple[str, ...], str]],
          names: tuple[str, ...], stage: str, rng: np.random.Generator, hidden: Sequence[int] = ()) -> Task:
    """The task of a pair of bank rows whose set A carries ``truths`` ((concept ids, direction) each).

    The sets are swapped at random (truth directions flip with them), so set A is not always the edited
    one; the candidates are the columns passing the describer's discovery screen, except ``hidden`` ones
    and those of a category the describer does not rank ("other" in ``KINDS``).
    """
    swapped = rng.random() < 0.5
    if swapped:
        a_rows, b_rows = b_rows, a_rows
    values = bank.scores[np.concatenate([a_rows, b_rows])].astype(np.float64)
    labels = np.array(["a"] * len(a_rows) + ["b"] * len(b_rows))
    eligible, auc, _ = screen(values, labels, DESCRIBER_SCREEN_LEVEL)
    eligible[list(hidden)] = False
    eligible[bank.kinds[:, 0] == KINDS.index("other")] = False  # categories the describer does not rank
    candidates = np.flatnonzero(eligible)
    observed = np.where(auc[candidates] > 0.5, "a", "b")
    ids = np.array(bank.concept_ids, dtype=object)[candidates]
    positive = np.zeros(len(candidates), dtype=bool)
    for concepts, direction in truths:
        if swapped:
            direction = "b" if direction == "a" else "a"
        positive |= np.isin(ids, list(concepts)) & (observed == direction)
    features = discovery_features(values, labels, bank.kinds, bank.thresholds, candidates)
    return Task(features, positive, names, stage)


def clean_rows(bank: Bank, bases: np.ndarray) -> np.ndarray:
    """The unedited rows of ``bases``."""
    return np.array([bank.rows(int(b), "") for b in bases])


def _top_third(bank: Bank, rows: np.ndarray, column: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``rows`` with a score on ``column``, split into the third scoring highest and the rest.

    Rows without a score (NaN: nothing to measure, e.g. no dark structure) belong to neither side: a task
    whose set B gathered them would differ in what can be measured, not in the concept."""
    values = bank.scores[rows, column]
    finite = rows[np.isfinite(values)]
    order = finite[np.argsort(-bank.scores[finite, column], kind="stable")]
    return order[: len(order) // 3], order[len(order) // 3:]


def split_tasks(bank: Bank, rows: np.ndarray, columns: Sequence[int], count: int, seed: int,
                stage: str) -> list[Task]:
    """Tasks whose difference is what a concept column measures in unedited ``rows``, ``count`` per column.

    Set A is drawn from the rows scoring in the top third on the column, set B from the rest: a
    difference of content (a saved finding's direction, a category such as "animal"), with that column
    as the truth and every concept that correlates with it as a side effect.
    """
    rng = np.random.default_rng(seed)
    tasks = []
    for column in columns:
        top, rest = _top_third(bank, rows, column)
        n = min(20, len(top))
        if n < MIN_TASK_SET:  # too few rows measure it
            continue
        for _ in range(count):
            a_rows, b_rows = rng.choice(top, n, replace=False), rng.choice(rest, n, replace=False)
            cid = bank.concept_ids[column]
            tasks.append(_task(bank, a_rows, b_rows, [((cid,), "a")], (cid,), stage, rng))
    return tasks


def contrast_tasks(bank: Bank, rows: np.ndarray, columns: Sequence[int], count: int, seed: int,
                   stage: str) -> list[Task]:
    """``count`` tasks of two content columns each: set A high on one, set B high on the other.

    The shape of a real category pair ("animals vs vehicles"): both columns are true differences (in
    opposite directions), and every pixel statistic or learned detector that differs with them, however
    strongly, is a side effect.
    """
    rng = np.random.default_rng(seed)
    top = {c: set(_top_third(bank, rows, c)[0].tolist()) for c in columns}
    tasks = []
    for _ in range(20 * count):
        if len(columns) < 2 or len(tasks) == count:
            break
        first, second = (int(c) for c in rng.choice(columns, 2, replace=False))
        a_pool, b_pool = sorted(top[first] - top[second]), sorted(top[second] - top[first])
        n = min(20, len(a_pool), len(b_pool))
        if n < MIN_TASK_SET:
            continue
        a_rows, b_rows = rng.choice(a_pool, n, replace=False), rng.choice(b_pool, n, replace=False)
        ids = (bank.concept_ids[first], bank.concept_ids[second])
        tasks.append(_task(bank, a_rows, b_rows, [((ids[0],), "a"), ((ids[1],), "b")], ids, stage, rng))
    return tasks


def content_columns(bank: Bank, rows: np.ndarray, count: int, seed: int,
                    kinds: Sequence[str] = ("semantic_category", "detector")) -> list[int]:
    """Up to ``count`` columns of the given concept ``kinds`` (default: semantic categories and detectors)
    that vary among ``rows``."""
    wanted = np.isin(bank.kinds[:, 0], [KINDS.index(k) for k in kinds])
    with np.errstate(invalid="ignore"):
        spread = np.nanstd(bank.scores[rows], axis=0)
    pool = np.flatnonzero(wanted & (spread > 0.02))
    if len(pool) == 0:
        return []
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(pool, min(count, len(pool)), replace=False).tolist())


def content_tasks(bank: Bank, rows: np.ndarray, seed: int) -> list[Task]:
    """Content-split and content-contrast tasks on the unedited ``rows`` (empty with under 60 rows)."""
    if len(rows) < 60:
        return []
    tasks = split_tasks(bank, rows, content_columns(bank, rows, CONTENT_COLUMNS, seed), CONTENT_TASKS,
                        seed + 1, "content")
    return tasks + contrast_tasks(bank, rows, content_columns(bank, rows, CONTENT_COLUMNS, seed + 2),
                                  CONTRAST_TASKS, seed + 3, "content")


def make_tasks(bank: Bank, stage: Stage, bases: np.ndarray, families: Sequence[str], count: int,
               seed: int) -> list[Task]:
    """``count`` tasks of ``stage``, deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    return [make_task(bank, stage, bases, families, rng) for _ in range(count)]


def top1_accuracy(describer: LearnedDescriber | None, tasks: Sequence[Task]) -> float:
    """Share of tasks whose top-scored candidate is a true difference (no candidate: a miss).

    With ``describer=None``, the untrained ordering by discovery strength is scored instead.
    """
    hits = 0
    for task in tasks:
        if len(task.positive) == 0:
            continue
        scores = task.features[:, 0] if describer is None else describer.score(task.features)
        hits += bool(task.positive[int(np.argmax(scores))])
    return hits / max(len(tasks), 1)


def _as_describer(params: dict, info: dict) -> LearnedDescriber:
    return LearnedDescriber(params["W1"].detach().numpy().copy(), params["b1"].detach().numpy().copy(),
                            params["w2"].detach().numpy().copy(), float(params["b2"].detach()), info)


def _loss(params: dict, tasks: Sequence[Task]):
    import torch

    total, counted = torch.zeros(()), 0
    for task in tasks:
        if not task.positive.any():
            continue
        x = torch.from_numpy(task.features.astype(np.float32))
        scores = torch.tanh(x @ params["W1"].T + params["b1"]) @ params["w2"] + params["b2"]
        positive = torch.from_numpy(task.positive)
        total = total + torch.logsumexp(scores, 0) - torch.logsumexp(scores[positive], 0)
        counted += 1
    return total / max(counted, 1)


def _initial_params(seed: int) -> dict:
    """The network's weights at the start: small random ``W1`` and ``w2``, zero biases (seeded)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    n_features = len(FEATURES)
    return {
        "W1": (torch.randn(HIDDEN, n_features, generator=generator) * 0.3).requires_grad_(),
        "b1": torch.zeros(HIDDEN, requires_grad=True),
        "w2": (torch.randn(HIDDEN, generator=generator) * 0.3).requires_grad_(),
        "b2": torch.zeros((), requires_grad=True),
    }


@dataclass
class _Curriculum:
    """Which stage is being trained, and when to move on (see ``fit_describer``)."""

    stages: Sequence[Stage]
    reachable: dict[str, float]
    patience: int
    current: int = 0
    best: float = -1.0
    stale: int = 0

    @property
    def name(self) -> str:
        return self.stages[self.current].name

    def update(self, stage_accuracy: float) -> None:
        """Record a held-out accuracy on the current stage; advance when it reached its goal or stalled."""
        if self.current >= len(self.stages) - 1:
            return
        self.stale = 0 if stage_accuracy > self.best else self.stale + 1
        self.best = max(self.best, stage_accuracy)
        goal = self.stages[self.current].advance_at * self.reachable[self.name]
        if stage_accuracy >= goal or self.stale >= self.patience:
            self.current, self.best, self.stale = self.current + 1, -1.0, 0


def _draw_batch(train_tasks: dict[str, list[Task]], names: Sequence[str], rng: np.random.Generator,
                batch_size: int, stage: int | None, review_share: float) -> list[Task]:
    """Draw ``batch_size`` training tasks: from the curriculum's ``stage`` (an earlier one with
    probability ``review_share``), or from any stage when ``stage`` is None (no curriculum)."""
    picks = []
    for _ in range(batch_size):
        if stage is not None:
            k = stage if stage == 0 or rng.random() > review_share else int(rng.integers(stage))
        else:
            k = int(rng.integers(len(names)))
        pool = train_tasks[names[k]]
        picks.append(pool[int(rng.integers(len(pool)))])
    return picks


def _evaluate(model: LearnedDescriber, eval_tasks: dict[str, list[Task]], names: Sequence[str],
              stage: int | None) -> tuple[float, float]:
    """Held-out Acc@1 on the curriculum's stage (the mean over stages without curriculum), and on the last."""
    if stage is not None:
        stage_accuracy = top1_accuracy(model, eval_tasks[names[stage]])
    else:
        stage_accuracy = float(np.mean([top1_accuracy(model, eval_tasks[n]) for n in names]))
    return stage_accuracy, top1_accuracy(model, eval_tasks[names[-1]])


def fit_describer(
    train_tasks: dict[str, list[Task]],
    eval_tasks: dict[str, list[Task]],
    stages: Sequence[Stage],
    *,
    curriculum: bool = True,
    n_batches: int = N_BATCHES,
    batch_size: int = 16,
    eval_every: int = 10,
    patience: int = 4,
    review_share: float = 0.25,
    seed: int = 0,
    progress: bool = True,
) -> tuple[LearnedDescriber, pd.DataFrame]:
    """Train a describer from pre-made tasks; return it and its learning log.

    The log has one row per evaluation: ``batch``, ``tasks_seen``, ``stage`` (the stage being trained;
    "all" without curriculum), ``stage_accuracy`` (held-out Acc@1 on it), ``hard_accuracy`` (held-out
    Acc@1 on the last stage) and ``curriculum``. A stage's *reachable* accuracy is the share of its
    held-out tasks where a true concept passes the screen at all; training moves on when
    ``advance_at`` of it is reached or after ``patience`` evaluations without progress.
    """
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    params = _initial_params(seed)
    optimiser = torch.optim.Adam(params.values(), lr=0.01)
    names = [s.name for s in stages]
    reachable = {name: float(np.mean([t.positive.any() for t in tasks]))
                 for name, tasks in eval_tasks.items()}
    plan = _Curriculum(stages, reachable, patience)
    log = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_batches, unit="batch", desc="Training the describer", leave=False)
    for batch in range(1, n_batches + 1):
        stage = plan.current if curriculum else None
        optimiser.zero_grad()
        loss = _loss(params, _draw_batch(train_tasks, names, rng, batch_size, stage, review_share))
        loss.backward()
        optimiser.step()
        if bar is not None:
            bar.update(1)
        if batch % eval_every == 0 or batch == n_batches:
            stage_accuracy, hard_accuracy = _evaluate(_as_describer(params, {}), eval_tasks, names, stage)
            log.append({"batch": batch, "tasks_seen": batch * batch_size,
                        "stage": plan.name if curriculum else "all", "stage_accuracy": stage_accuracy,
                        "hard_accuracy": hard_accuracy, "loss": float(loss.detach()),
                        "curriculum": curriculum})
            if curriculum:
                plan.update(stage_accuracy)
    if bar is not None:
        bar.close()
    return _as_describer(params, {}), pd.DataFrame(log)


def split_bases(n_bases: int, seed: int, held_out: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Base image indices for training tasks and for held-out evaluation tasks."""
    order = np.random.default_rng(seed).permutation(n_bases)
    n_eval = max(20, int(n_bases * held_out))
    return np.sort(order[n_eval:]), np.sort(order[:n_eval])


def train_describer(
    bank: Bank,
    *,
    families: Sequence[str] | None = None,
    seed: int = 0,
    curriculum: bool = True,
    tasks_per_stage: int = 400,
    n_batches: int = N_BATCHES,
    progress: bool = True,
    compare: bool = False,
) -> tuple[LearnedDescriber, pd.DataFrame]:
    """Train the describer on ``bank`` tasks of ``families`` (default all); return it and its log.

    Every stage's training tasks also hold content tasks (``content_tasks``: a category or detector
    split, and two categories contrasted, in the base pool and in the bank's content pool) and tasks of
    the saved findings among the bank's columns (a bank built with ``ConceptLibrary(findings=...)``).

    With ``compare=True`` a describer without curriculum is trained on the same tasks with the same
    compute and its evaluations are appended to the log (``curriculum`` False); the returned describer is
    the curriculum one (or the no-curriculum one when ``curriculum=False``).
    """
    families = list(families or bank.families)
    stages = curriculum_stages()
    train_bases, eval_bases = split_bases(bank.n_bases, seed)
    train_tasks, eval_tasks = {}, {}
    iterator = stages
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(stages, unit="stage", desc="Making training tasks", leave=False)
    saved_columns = [int(j) for j in np.flatnonzero(bank.kinds[:, 0] == KINDS.index("saved"))]
    saved = split_tasks(bank, clean_rows(bank, train_bases), saved_columns, FINDING_TASKS, seed * 101 + 99,
                        "finding")
    # Content differences (categories, detected objects), in the base pool and in the content pool of
    # another domain, so the describer does not learn that only edits are ever the cause.
    content = (content_tasks(bank, clean_rows(bank, train_bases), seed * 101 + 90)
               + content_tasks(bank, bank.content_rows, seed * 101 + 80))
    for k, stage in enumerate(iterator):
        train_tasks[stage.name] = make_tasks(bank, stage, train_bases, families, tasks_per_stage,
                                             seed * 101 + k)
        # Findings users validated and content differences are trained on at every stage.
        train_tasks[stage.name] += saved + content
        eval_tasks[stage.name] = make_tasks(bank, stage, eval_bases, families, EVAL_TASKS,
                                            seed * 101 + 50 + k)
    runs = [curriculum, not curriculum] if compare else [curriculum]
    logs, chosen = [], None
    for flag in runs:
        model, log = fit_describer(train_tasks, eval_tasks, stages, curriculum=flag, n_batches=n_batches,
                                   seed=seed, progress=progress)
        logs.append(log)
        if flag == curriculum:
            chosen = model
    log = pd.concat(logs, ignore_index=True)
    untrained = {s.name: top1_accuracy(None, eval_tasks[s.name]) for s in stages}
    trained = {s.name: top1_accuracy(chosen, eval_tasks[s.name]) for s in stages}
    info = {
        "seed": seed, "families": families, "curriculum": curriculum, "tasks_per_stage": tasks_per_stage,
        "saved_findings": sorted({t.families[0] for t in saved}),
        "n_batches": n_batches, "stages": [s.__dict__ for s in stages],
        "held_out_top1": {"trained": trained, "by_strength": untrained},
        "log": log.to_dict(orient="records"),
    }
    return LearnedDescriber(chosen.W1, chosen.b1, chosen.w2, chosen.b2, info), log


BANK_SIZE = 160  # base images of the default bank (each edited once per family)
DILUTION_SIZE = 100  # unedited textiles that dilute the bank's sets (all of the training part's nominal ones)
# The part of the bundled photos and textiles training draws from (``synth.pools.PARTS``); the benchmark,
# the tests and the demo use the "bench" part, so their source photos are never trained on.
TRAIN_PART = "train"
# Clip-art categories for the content pool: none of them is in the benchmark's real pairs, which stay
# unseen (animals, buildings, food, people, transportation), and their training part leaves out the
# drawings the package also files under those (``synth.pools.openclipart_files``).
CONTENT_CATEGORIES = ("plants", "tools", "electronics", "office", "recreation", "computer", "education",
                      "geography", "signs_and_symbols", "unsorted")
CONTENT_PER_CATEGORY = 40


@dataclass
class TrainingPools:
    """The images of a bank: ``base`` (edited once per family), ``dilution`` and ``content`` (unedited)."""

    base: list[np.ndarray]
    dilution: list[np.ndarray]
    content: list[np.ndarray]
    note: str


def training_pools(seed: int, pool: Sequence[np.ndarray] | None = None, size: int = BANK_SIZE
                   ) -> TrainingPools:
    """The pools of the default bank, with a note on where they came from.

    ``pool`` (e.g. a user's own images) is used as the base when given, else crops of the bundled photos'
    training part (``TRAIN_PART``: no photo the benchmark edits). The diluting images are the training
    part's textiles when ``conformal-clip-data`` is installed, else grey-inclusive crops of the training
    photos. The content pool is clip-art of ``CONTENT_CATEGORIES`` when ``openclipart-png`` is installed
    (else empty), so content tasks also come from a domain other than photos.
    """
    from tellapart.synth.pools import PoolUnavailable, bundled_pool, openclipart_pool, textile_pool

    base = list(pool) if pool is not None else bundled_pool(size, seed=seed + 1234, min_side=128,
                                                              max_side=224, include_gray=False,
                                                              part=TRAIN_PART)
    base = base[:size]
    if len(base) < 60:
        raise ValueError(f"the pool has {len(base)} images; training the describer needs at least 60")
    try:
        dilution = textile_pool("nominal", DILUTION_SIZE, seed=seed + 1235, part=TRAIN_PART)
        notes = [f"dilution: {TRAIN_PART}-part textiles"]
    except PoolUnavailable:
        dilution = bundled_pool(DILUTION_SIZE, seed=seed + 1235, min_side=128, max_side=224, part=TRAIN_PART)
        notes = ["dilution: bundled crops (install conformal-clip-data for textiles)"]
    content = []
    try:
        for k, category in enumerate(CONTENT_CATEGORIES):
            content += openclipart_pool(category, CONTENT_PER_CATEGORY, seed=seed + 1236 + k, part=TRAIN_PART)
        notes.append(f"content: {len(content)} clip-art images")
    except PoolUnavailable:
        notes.append("content: none (install openclipart-png for clip-art)")
    return TrainingPools(base, dilution, content, "; ".join(notes))
