"""Lessons: predict, run, check. Exercises as data, one student's variant per seed, a checker that never raises.

The API (stable; a UI builds on these names only)::

    from cnn_core.lessons import EXERCISES, SECTIONS, exercise, check, seed_for

    ex = exercise("conv-output-shape")        # an Exercise (frozen dataclass), or KeyError
    v = ex.variant(seed_for("ada"))           # a Variant: v.question (markdown), v.page, v.link, v.choices
    result = check(v, "1 x 13 x 13")          # Result(correct, message, misconception)

- ``SECTIONS``: the lecture's 20 sections, in order; ``KINDS``: compute, predict, target, bug;
  ``ANSWER_KINDS``: number, shape, choice, order, target, fix.
- ``EXERCISES``: every Exercise, in the lecture's order (by section); ``exercise(id)``; ``by_section(name)``.
- ``Exercise``: id (stable slug), section, kind, title, page (file under pages/), question, answer (kind),
  hints, explanation, misconceptions ((wrong-answer generator, label), ...), tolerance, unit.
  ``exercise.variant(seed)`` -> ``Variant``.
- ``Variant``: id, seed, question (the concrete markdown), page, link ({widget key: value or [values]}
  for the page's lesson link: keys of widgets drawn through ``links.bound(st)``), answer_kind, choices
  (choice / order answers), expected (the computed answer; target / fix: an example that passes),
  target (a Target for run goals), misconceptions ((wrong answer, label), ...).
- ``check(variant, answer, run=None) -> Result``: never raises.
    number / shape / choice / order: ``answer`` is the typed text (or a widget's value); choices may be
    given by text, a unique prefix, their number (1-based) or letter; an order as "b, a, c" or "C5 > F6";
    predict kind: pass ``run`` (a dict with the metrics named in ``exercise.observed``, or a records
    frame) to compare the committed choice with what the run shows; without it the computed answer is used;
    target: ``answer`` is the run (a tidy records frame: run, epoch, step, split, metric, value, or a dict
    of metrics such as {"val_accuracy": 0.98, "params": 15000}); see ``run_metrics`` for the names;
    fix (find-the-bug): ``answer`` is the fixed setting, {widget key: value} or "key=value&key=value";
    the check re-runs cnn_core's sanity check on it (a few seconds for training checks).
- ``seed_for(text)``: a stable seed from a nickname or session id.
- ``Result``: correct (bool), message (a sentence for the student), misconception (a label or None): store
  all three with the attempt (cnn_core.classroom.progress.ProgressStore.record_attempt).
"""
from __future__ import annotations

import hashlib

from cnn_core.lessons.check import check
from cnn_core.lessons.core import ANSWER_KINDS, KINDS, SECTIONS, Exercise, Result, Target, Variant
from cnn_core.lessons.exercises import BY_ID, EXERCISES
from cnn_core.lessons.measure import run_metrics
from cnn_core.lessons.parse import AnswerError

__all__ = ["ANSWER_KINDS", "EXERCISES", "KINDS", "SECTIONS", "AnswerError", "Exercise", "Result", "Target",
           "Variant", "by_section", "check", "exercise", "run_metrics", "seed_for"]


def exercise(exercise_id: str) -> Exercise:
    """The exercise with this id (KeyError with the id if there is none)."""
    return BY_ID[exercise_id]


def by_section(section: str) -> list[Exercise]:
    """The exercises of one lecture section, in order."""
    return [e for e in EXERCISES if e.section == section]


def seed_for(text: str) -> int:
    """A stable 31-bit seed from a nickname or session id (the same text gives the same variants)."""
    return int.from_bytes(hashlib.sha256(str(text).encode("utf-8")).digest()[:4], "big") & 0x7FFF_FFFF
