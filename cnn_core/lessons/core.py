"""The data of a lesson: sections, Exercise (the recipe), Variant (one student's instance), Result."""
from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

# The lecture's sections, in the lecture's order (lecture-2-cnns.md).
SECTIONS: tuple[str, ...] = (
    "ANNs vs CNNs", "Architecture & LeNet-5", "Input layer", "Convolution", "Activation", "Pooling",
    "Fully-connected", "Defining a model in PyTorch", "Layer visualization", "Weight initialization",
    "Loss functions", "Regularization", "Optimizers", "Hyper-parameter tuning", "Training", "TensorBoard",
    "Saving / restoring", "Localization", "Detection", "Segmentation",
)

# What the student does: work a number out before looking, commit a prediction and run, reach a target
# with a run, or repair a setup that fails.
KINDS: tuple[str, ...] = ("compute", "predict", "target", "bug")

# How an answer is given and compared.
ANSWER_KINDS: tuple[str, ...] = ("number", "shape", "choice", "order", "target", "fix")

Params = Mapping[str, Any]
Misconception = tuple[Callable[[Params], Any], str]  # (wrong-answer generator, label)


def same_answer(kind: str, given: Any, expected: Any, tolerance: float = 0.0) -> bool:
    """True when two parsed answers of an answer kind agree (numbers within the relative tolerance)."""
    if kind == "number":
        given, expected = float(given), float(expected)
        allowed = max(tolerance * abs(expected), 1e-9 * max(1.0, abs(expected)))
        return abs(given - expected) <= allowed
    if kind in ("shape", "order"):
        return tuple(given) == tuple(expected)
    return given == expected


@dataclass(frozen=True)
class Structure:
    """A network the answer is measured on: a layer list on an input, or a registry model.

    `layers` items are (kind, options) with kind in conv, convT, maxpool, avgpool, relu, flatten, linear
    (see cnn_core.lessons.measure.build_layers); `model` is a MODELS key with ModelOptions fields in
    `options`. `quantity` is output_shape, params, receptive_field or macs; `upto` = number of layers
    that count (None = all).
    """

    quantity: str
    input_shape: tuple[int, ...]                          # C x H x W (or features) of one sample
    layers: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    model: str | None = None
    options: tuple[tuple[str, Any], ...] = ()
    upto: int | None = None


def layer(kind: str, **options: Any) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """One item of a Structure's layer list, e.g. layer('conv', out=6, k=5, p=2)."""
    return kind, tuple(sorted(options.items()))


@dataclass(frozen=True)
class Target:
    """A goal on a run's metrics: every `at_least` / `at_most` bound must hold (names: see run_metrics)."""

    at_least: tuple[tuple[str, float], ...] = ()
    at_most: tuple[tuple[str, float], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()  # metric -> the misconception its failed bound reveals

    def describe(self) -> str:
        """'val_accuracy >= 0.98 and params <= 20000'."""
        parts = [f"{k} >= {v:g}" for k, v in self.at_least] + [f"{k} <= {v:g}" for k, v in self.at_most]
        return " and ".join(parts)


@dataclass(frozen=True)
class Verdict:
    """What a run- or setting-based judge says: correct?, a sentence, and a misconception label or None."""

    correct: bool
    message: str
    misconception: str | None = None


@dataclass(frozen=True)
class Exercise:
    """One exercise as data; `variant(seed)` makes one student's concrete instance of it.

    `draw(rng)` picks the variant's numbers; `solve(params)` computes the expected answer with torch /
    cnn_core (never typed in); `link(params)` is the lesson-link query of the page's widget keys.
    `observe(params, metrics)` (predict kind) reads the answer off the student's run; `judge(params,
    value)` (target and fix kinds) decides from the run's metrics or from the student's fixed setting.
    """

    id: str                                   # stable slug: the key of attempts in the progress store
    section: str                              # one of SECTIONS
    kind: str                                 # one of KINDS
    title: str
    page: str                                 # file name under pages/, e.g. "3_Basic_Layers.py"
    question: str                             # markdown, a str.format template over the params
    answer: str                               # one of ANSWER_KINDS
    draw: Callable[[random.Random], dict[str, Any]]
    solve: Callable[[Params], Any]
    link: Callable[[Params], dict[str, str]]
    hints: tuple[str, ...]
    explanation: str                          # what the answer is and where to look on the page
    misconceptions: tuple[Misconception, ...] = ()
    tolerance: float = 0.0                    # relative tolerance of a number answer (0 = exact)
    unit: str = ""                            # shown after a number, accepted in the answer
    choices: Callable[[Params], tuple[str, ...]] | None = None
    structure: Callable[[Params], Structure] | None = None
    observe: Callable[[Params, Mapping[str, float]], str] | None = None
    observed: tuple[str, ...] = ()            # the run metrics `observe` reads (the UI passes them as `run`)
    judge: Callable[[Params, Any], Verdict] | None = None
    target: Callable[[Params], Target] | None = None

    def variant(self, seed: int) -> Variant:
        """The concrete exercise for this seed: question text, link, expected answer and wrong answers."""
        params = MappingProxyType(self.draw(random.Random(f"{self.id}:{int(seed)}")))
        expected = self.solve(params)
        wrong = []
        for generate, label in self.misconceptions:
            value = generate(params)
            # a mistake that happens to give the right answer for these numbers is no mistake here
            if value is None:
                continue
            if self.answer in ("number", "shape", "choice", "order") and any(
                    same_answer(self.answer, value, other, self.tolerance)
                    for other in (expected, *(w for w, _ in wrong))):
                continue  # right by coincidence for these numbers, or the same answer as an earlier mistake
            wrong.append((value, label))
        return Variant(
            exercise=self, seed=int(seed), params=params, question=self.question.format(**params),
            link={k: [str(x) for x in v] if isinstance(v, (list, tuple)) else str(v)
                  for k, v in self.link(params).items()}, expected=expected,
            choices=tuple(self.choices(params)) if self.choices else (),
            misconceptions=tuple(wrong), target=self.target(params) if self.target else None,
            structure=self.structure(params) if self.structure else None)


@dataclass(frozen=True)
class Variant:
    """One student's instance of an exercise (what the UI shows and what `check` compares with)."""

    exercise: Exercise = field(repr=False)
    seed: int
    params: Mapping[str, Any] = field(repr=False)
    question: str
    link: dict[str, str | list[str]]          # widget key -> value(s) for the page's lesson link
    expected: Any                             # the computed answer (target / fix: an example that passes)
    choices: tuple[str, ...] = ()
    misconceptions: tuple[tuple[Any, str], ...] = ()  # (a typical wrong answer, its label)
    target: Target | None = None
    structure: Structure | None = None

    @property
    def id(self) -> str:
        """The exercise's id."""
        return self.exercise.id

    @property
    def page(self) -> str:
        """The page's file name."""
        return self.exercise.page

    @property
    def answer_kind(self) -> str:
        """number, shape, choice, order, target or fix."""
        return self.exercise.answer


@dataclass(frozen=True)
class Result:
    """The checker's verdict on one answer."""

    correct: bool
    message: str
    misconception: str | None = None          # the label of the mistake the answer matches, if any
