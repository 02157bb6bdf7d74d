"""check(variant, answer) -> Result: parse the answer, compare it with the computed one, name the mistake."""
from __future__ import annotations

import logging
import math
from typing import Any

from cnn_core.errors import PlaygroundError
from cnn_core.lessons.core import Result, Variant, Verdict, same_answer
from cnn_core.lessons.measure import run_metrics
from cnn_core.lessons.parse import AnswerError, parse_choice, parse_number, parse_order, parse_setting, parse_shape

log = logging.getLogger(__name__)


def _show(kind: str, value: Any, unit: str = "") -> str:
    if kind == "number":
        text = f"{value:,.0f}" if float(value).is_integer() and abs(value) >= 1000 else f"{value:.6g}"
        return f"{text} {unit}".strip()
    if kind == "shape":
        return " x ".join(map(str, value))
    if kind == "order":
        return " → ".join(value)
    return str(value)


def parse_answer(variant: Variant, raw: Any) -> Any:
    """The raw answer as a value of the variant's answer kind (AnswerError with a message if unreadable)."""
    kind = variant.answer_kind
    if kind == "number":
        return parse_number(raw)
    if kind == "shape":
        return parse_shape(raw)
    if kind == "choice":
        return parse_choice(raw, variant.choices)
    if kind == "order":
        return parse_order(raw, variant.choices)
    if kind == "fix":
        return parse_setting(raw)
    return raw  # target: a run (records frame or dict of metrics)


def _misconception(variant: Variant, value: Any) -> str | None:
    for wrong, label in variant.misconceptions:
        try:
            wrong_value = parse_answer(variant, wrong) if variant.answer_kind in ("shape", "order") else wrong
            if same_answer(variant.answer_kind, value, wrong_value, variant.exercise.tolerance):
                return label
        except (AnswerError, TypeError, ValueError):
            continue
    return None


def target_verdict(variant: Variant, run: Any) -> Verdict:
    """Whether a run meets the variant's Target; a failed bound names its misconception (Target labels)."""
    target = variant.target
    if target is None:
        return Verdict(False, "This exercise has no target.")
    metrics = run_metrics(run)
    for key, _ in (*target.at_least, *target.at_most):
        if key not in metrics or not math.isfinite(metrics[key]):
            return Verdict(False, f"The run has no finite '{key}' yet: run the experiment to the end, then check.")
    labels = dict(target.labels)
    for key, bound in target.at_least:
        if metrics[key] < bound:
            return Verdict(False, f"{key} = {metrics[key]:.4g} is below the target {bound:g}.", labels.get(key))
    for key, bound in target.at_most:
        if metrics[key] > bound:
            return Verdict(False, f"{key} = {metrics[key]:,.4g} is above the limit {bound:,g}.", labels.get(key))
    shown = ", ".join(f"{k} = {metrics[k]:,.4g}" for k, _ in (*target.at_least, *target.at_most))
    return Verdict(True, f"Target reached: {shown}.")


def check(variant: Variant, answer: Any, run: Any = None) -> Result:
    """Check one answer; never raises. `run` (predict kind) is the student's run: its records or metrics.

    number / shape / choice / order: `answer` is what the student typed (or the value a widget gave);
    target: `answer` is the run (a tidy records frame or a dict of metrics); fix: `answer` is the fixed
    setting ({widget key: value} or a query string), re-checked with cnn_core's sanity checks.
    """
    try:
        return _check(variant, answer, run)
    except AnswerError as exc:
        return Result(False, str(exc))
    except PlaygroundError as exc:  # e.g. a setting that cannot train: the library's own message
        return Result(False, f"That cannot be checked: {exc}")
    except Exception as exc:  # noqa: BLE001 (a checker bug must not break the page; it is logged)
        log.exception("checking %s failed", variant.id)
        return Result(False, f"That answer could not be checked ({type(exc).__name__}); try typing it again.")


def _check(variant: Variant, answer: Any, run: Any) -> Result:
    exercise, kind = variant.exercise, variant.answer_kind
    if kind in ("target", "fix"):
        value = parse_answer(variant, answer)
        verdict = target_verdict(variant, value) if kind == "target" else exercise.judge(variant.params, value)
        return Result(verdict.correct, verdict.message, verdict.misconception)
    value = parse_answer(variant, answer)
    expected = variant.expected
    observed = ""
    if run is not None and exercise.observe is not None:
        metrics = run_metrics(run)
        missing = [name for name in exercise.observed if name not in metrics]
        if missing:
            return Result(False, f"The run does not show {', '.join(missing)} yet: run it, then check.")
        expected = exercise.observe(variant.params, metrics)
        observed = " (what your run shows)"
    if same_answer(kind, value, expected, exercise.tolerance):
        return Result(True, f"Right: {_show(kind, expected, exercise.unit)}{observed}.")
    if kind == "shape" and len(value) == len(expected) + 1 and value[0] == 1 and tuple(value[1:]) == tuple(expected):
        return Result(False, "Not quite: give the shape of one sample, without the batch dimension.",
                      "included the batch dimension")
    label = _misconception(variant, value)
    if observed and kind == "choice":
        return Result(False, f"Your prediction was '{value}'; the run shows '{expected}'.", label)
    if label:
        return Result(False, f"Not quite: {_show(kind, value, exercise.unit)} is what you get when you "
                             f"{label}.", label)
    hint = f" Hint: {exercise.hints[0]}" if exercise.hints else ""
    return Result(False, f"Not quite: {_show(kind, value, exercise.unit)} is not it.{hint}")
