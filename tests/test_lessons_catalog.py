"""The exercise catalogue: coverage of the lecture, real widget keys, and every answer accepted / mistakes labelled.

Structural answers are compared with independent references: a real torch.nn layer stack on a real tensor,
torchinfo's parameter count, and the receptive field read off an input gradient.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch
import torchinfo
from torch import nn

from cnn_core.lessons import ANSWER_KINDS, EXERCISES, KINDS, SECTIONS, by_section, check, exercise, seed_for
from cnn_core.lessons.core import Structure
from cnn_core.models.registry import ModelOptions, build_model

SEEDS = range(20)
PAGES = Path(__file__).resolve().parents[1] / "pages"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The fix checks train for a few steps: one thread keeps them fast on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def typed(variant, value):
    """A value as a student would type it."""
    if variant.answer_kind == "shape":
        return " x ".join(map(str, value))
    if variant.answer_kind == "order":
        return ", ".join(value)
    if variant.answer_kind == "number":
        return f"{value:,}" if isinstance(value, int) else repr(value)
    return value


# ------------------------------------------------------------------------------------------- coverage


def test_catalogue_covers_the_lecture_in_order():
    assert len(EXERCISES) >= 60
    for section in SECTIONS:
        assert len(by_section(section)) >= 3, section
    positions = [SECTIONS.index(e.section) for e in EXERCISES]
    assert positions == sorted(positions)  # the lecture's order
    assert {e.kind for e in EXERCISES} == set(KINDS)
    assert {e.answer for e in EXERCISES} == set(ANSWER_KINDS)
    ids = [e.id for e in EXERCISES]
    assert len(ids) == len(set(ids)) and all(re.fullmatch(r"[a-z0-9][a-z0-9-]*", i) for i in ids)
    assert all(e.hints and e.explanation and e.question for e in EXERCISES)
    assert exercise("conv-params").section == "Convolution"


def _page_keys(page: str) -> tuple[set[str], set[str]]:
    """Widget keys on a page and the page-private sections it imports: literals, and prefixes of f-string keys."""
    files = [PAGES / page]
    text = files[0].read_text()
    for topic in set(re.findall(r"from pages\.(\w+)", text)) | set(re.findall(r"from pages import (\w+)", text)):
        files += sorted((PAGES / topic).glob("*.py"))
    source = "\n".join(f.read_text() for f in files)
    literal = set(re.findall(r"""key=["']([A-Za-z0-9_.-]+)["']""", source))
    literal |= set(re.findall(r"""(?:model_picker|seed_input)\(\s*["']([A-Za-z0-9_]+)["']""", source))
    literal |= set(re.findall(r"""^\w+ = ["']([a-z_]+)["']\s+#""", source, flags=re.MULTILINE))  # key constants
    prefixes = set(re.findall(r"""key=f["']([A-Za-z0-9_]+)\{""", source))
    return literal, prefixes


def test_links_use_real_widget_keys_of_the_page():
    for e in EXERCISES:
        assert (PAGES / e.page).is_file(), e.page
        literal, prefixes = _page_keys(e.page)
        for seed in (0, 1, 2):
            for key in e.variant(seed).link:
                assert key in literal or any(key.startswith(p) for p in prefixes), (e.id, key)


def test_variants_are_seeded_and_differ_between_students():
    e = exercise("conv-output-shape")
    assert e.variant(3) == e.variant(3)
    assert len({e.variant(seed).question for seed in SEEDS}) > 5
    assert seed_for("ada") == seed_for("ada") != seed_for("grace")


# ------------------------------------------------------------------------ answers and mistakes, 20 seeds


@pytest.mark.parametrize("exercise_id", [e.id for e in EXERCISES if e.answer != "fix"])
def test_computed_answer_is_accepted_and_mistakes_are_labelled(exercise_id):
    e = exercise(exercise_id)
    for seed in SEEDS:
        v = e.variant(seed)
        result = check(v, typed(v, v.expected))
        assert result.correct, (seed, v.expected, result.message)
        assert v.misconceptions or e.answer in ("choice", "target") and e.misconceptions, seed
        for wrong, label in v.misconceptions:
            result = check(v, typed(v, wrong))
            assert not result.correct and result.misconception == label, (seed, wrong, label, result)


@pytest.mark.slow
@pytest.mark.parametrize("exercise_id", [e.id for e in EXERCISES if e.answer == "fix"])
def test_fixed_settings_pass_the_sanity_check_and_broken_ones_do_not(exercise_id):
    e = exercise(exercise_id)
    for seed in SEEDS:
        v = e.variant(seed)
        result = check(v, v.expected)
        assert result.correct, (seed, result.message)
        for wrong, label in v.misconceptions:
            result = check(v, wrong)
            assert not result.correct and result.misconception == label, (seed, wrong, label, result)
    # the same fix typed as a query string
    v = e.variant(0)
    assert check(v, "&".join(f"{k}={val}" for k, val in v.expected.items())).correct


def test_predict_compares_with_what_the_run_shows():
    v = exercise("opt-lr-bowl").variant(0)
    # the student's run shows divergence: that is the truth the committed choice is compared with
    assert check(v, "diverges", run={"final_abs_w": 1e6, "start_abs_w": 1.0}).correct
    assert not check(v, "converges to 0", run={"final_abs_w": 1e6, "start_abs_w": 1.0}).correct
    assert all(e.observed for e in EXERCISES if e.kind == "predict" and e.id not in ("act-which", "save-load-mismatch"))


# ----------------------------------------------------------------------------- independent references


def _real_layers(structure: Structure, avg_for_max: bool = False, unit_weights: bool = False) -> nn.Sequential:
    """The structure's layers built here, independently of cnn_core.lessons.measure, on the CPU."""
    layers, shape = [], list(structure.input_shape)
    items = structure.layers[: structure.upto] if structure.upto is not None else structure.layers
    for kind, options in items:
        o = dict(options)
        if kind == "conv":
            module = nn.Conv2d(shape[0], o["out"], o["k"], stride=o.get("s", 1), padding=o.get("p", 0),
                               dilation=o.get("d", 1), groups=o.get("g", 1), bias=o.get("bias", True))
        elif kind == "convT":
            module = nn.ConvTranspose2d(shape[0], o["out"], o["k"], stride=o.get("s", 1), padding=o.get("p", 0),
                                        output_padding=o.get("op", 0), bias=o.get("bias", True))
        elif kind in ("maxpool", "avgpool"):
            pool = nn.AvgPool2d if kind == "avgpool" or avg_for_max else nn.MaxPool2d
            extra = {"count_include_pad": True} if pool is nn.AvgPool2d else {"dilation": o.get("d", 1)}
            module = pool(o["k"], stride=o.get("s") or o["k"], padding=o.get("p", 0),
                          ceil_mode=o.get("ceil", False), **extra)
        elif kind == "relu":
            module = nn.Identity() if unit_weights else nn.ReLU()
        elif kind == "flatten":
            module = nn.Flatten()
        else:
            module = nn.Linear(shape[-1], o["out"], bias=o.get("bias", True))
        layers.append(module)
        with torch.no_grad():
            shape = list(module(torch.zeros(1, *shape)).shape[1:])
    model = nn.Sequential(*layers)
    if unit_weights:
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.ones_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
    return model


def _reference(structure: Structure):
    """The structure's quantity measured independently: a real forward pass, torchinfo, an input gradient."""
    if structure.model is not None:
        model = build_model(structure.model, ModelOptions(**dict(structure.options)))
        assert structure.quantity == "params"
        return torchinfo.summary(model, input_size=(1, *structure.input_shape), verbose=0).total_params
    if structure.quantity == "output_shape":
        out = _real_layers(structure)(torch.randn(2, *structure.input_shape))
        return tuple(out.shape[1:])
    if structure.quantity == "params":
        return torchinfo.summary(_real_layers(structure), input_size=(1, *structure.input_shape),
                                 verbose=0).total_params
    if structure.quantity == "macs":
        model, total = _real_layers(structure), 0
        x = torch.randn(1, *structure.input_shape)
        for m in model:
            y = m(x)
            if isinstance(m, nn.Conv2d):  # one multiply-add per weight of a filter, per output value
                total += y.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
            x = y
        return total
    if structure.quantity == "receptive_field":
        # the theoretical field = the pixels a central unit's input gradient reaches (all-ones weights,
        # average pooling: every tap gets a nonzero gradient); a large input keeps the field unclipped
        c = structure.input_shape[0]
        x = torch.zeros(1, c, 160, 160, requires_grad=True)
        out = _real_layers(structure, avg_for_max=True, unit_weights=True)(x)
        out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
        rows = torch.nonzero(x.grad[0].abs().sum(0).sum(1))
        return int(rows.max() - rows.min() + 1)
    raise AssertionError(structure.quantity)


STRUCTURAL = [e.id for e in EXERCISES if e.structure is not None]


@pytest.mark.parametrize("exercise_id", STRUCTURAL)
def test_structural_answers_equal_an_independent_reference(exercise_id):
    e = exercise(exercise_id)
    for seed in SEEDS:
        v = e.variant(seed)
        reference = _reference(v.structure)
        assert v.expected == reference, (seed, v.structure, v.expected, reference)


def test_enough_structural_answers_are_cross_checked():
    quantities = {exercise(i).variant(0).structure.quantity for i in STRUCTURAL}
    assert len(STRUCTURAL) >= 15 and quantities >= {"output_shape", "params", "receptive_field", "macs"}


def test_model_answers_match_torch_itself():
    """Answers computed outside a Structure, compared with torch's own layers, autograd and optimizers."""
    v = exercise("model-flatten-bug").variant(4)
    a, b, size = v.params["a"], v.params["b"], v.params["size"]
    net = nn.Sequential(nn.Conv2d(1, a, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(a, b, 3), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(int(v.expected), 10))
    assert net(torch.randn(2, 1, size, size)).shape == (2, 10)  # the fixed in_features runs
    with pytest.raises(RuntimeError):
        net[-1] = nn.Linear(v.params["wrong"], 10)
        net(torch.randn(2, 1, size, size))
    v = exercise("loss-initial").variant(1)
    k = v.params["classes"]
    assert math.isclose(v.expected, nn.functional.cross_entropy(torch.zeros(1, k), torch.tensor([0])).item(),
                        rel_tol=1e-6)
    v = exercise("act-derivative").variant(2)
    x = torch.tensor(float(v.params["x"]), requires_grad=True)
    getattr(torch, v.params["fn"])(x).backward()
    assert math.isclose(v.expected, x.grad.item(), rel_tol=1e-6)
    v = exercise("opt-momentum").variant(0)
    w = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([w], lr=v.params["lr"], momentum=v.params["mu"])
    for _ in range(2):
        w.grad = torch.full((1,), float(v.params["g"]))
        opt.step()
    assert math.isclose(v.expected, w.item(), rel_tol=1e-6)


def test_a_run_without_the_observed_metrics_gets_a_message():
    v = exercise("pool-avg-vs-max").variant(0)
    result = check(v, "smaller", run={"avg_sum": 3.0})
    assert not result.correct and "max_sum" in result.message
    assert check(v, "larger", run={"avg_sum": 9.0, "max_sum": 3.0}).correct  # the run is the truth
