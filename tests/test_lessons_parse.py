"""Reading answers: numbers with units and separators, shapes in every usual spelling, choices, orders, settings;
bad input always gets a message, never a traceback."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from cnn_core.lessons import Result, check, exercise, run_metrics
from cnn_core.lessons.parse import AnswerError, parse_choice, parse_number, parse_order, parse_setting, parse_shape
from cnn_core.training.config import Record, records_to_frame


@pytest.mark.parametrize("text, value", [
    ("28", 28.0), ("28 px", 28.0), ("28px", 28.0), ("61,706", 61706.0), ("61 706", 61706.0),
    ("61_706", 61706.0), ("1,234,567", 1234567.0), ("2.30", 2.3), (".25", 0.25), ("-0.5", -0.5),
    ("\u22120.5", -0.5), ("+3", 3.0), ("1e-3", 0.001), ("2.5E2", 250.0), ("98%", 0.98), ("≈ 2.30", 2.3),
    ("~0.1", 0.1), ("= 456 parameters", 456.0), ("  12  ", 12.0), (7, 7.0), (0.5, 0.5),
])
def test_numbers_are_read_robustly(text, value):
    assert math.isclose(parse_number(text), value)


@pytest.mark.parametrize("text, fragment", [
    ("", "Type a number"), ("   ", "Type a number"), (None, "Type a number"),
    ("1e400", "not finite"), ("NaN", "not a finite number"), ("inf", "not a finite number"),
    ("-Infinity", "not a finite number"), (float("nan"), "not finite"), (float("inf"), "not finite"),
    ("1,5", "use a point for decimals"), ("12,34,5", "group digits by three"), ("twelve", "not a number"),
    ("12 34 56 7", "group digits by three"), ("3 x 4", "more than one number"), ("1" * 5000, "characters long"),
    (True, "not yes/no"),
])
def test_bad_numbers_get_a_clear_message(text, fragment):
    with pytest.raises(AnswerError, match=fragment):
        parse_number(text)


@pytest.mark.parametrize("text, shape", [
    ("32x32", (32, 32)), ("(6, 28, 28)", (6, 28, 28)), ("6 x 28 x 28", (6, 28, 28)), ("6×28×28", (6, 28, 28)),
    ("[16, 5, 5]", (16, 5, 5)), ("torch.Size([6, 28, 28])", (6, 28, 28)), ("6 28 28", (6, 28, 28)),
    ("6*28*28", (6, 28, 28)), ("120", (120,)), ((6, 28, 28), (6, 28, 28)), ([1, 2], (1, 2)),
])
def test_shapes_are_read_in_every_usual_spelling(text, shape):
    assert parse_shape(text) == shape


@pytest.mark.parametrize("text, fragment", [
    ("", "Type a shape"), ("6 x 28.5 x 28", "not a size"), ("6 x -28", "not a size"), ("()", "Type a shape"),
    ("1x" * 20 + "1", "at most 8"), ("x" * 300, "characters long"), ("six by six", "not a size"),
])
def test_bad_shapes_get_a_clear_message(text, fragment):
    with pytest.raises(AnswerError, match=fragment):
        parse_shape(text)


def test_choices_orders_and_settings():
    options = ("converges to 0", "bounces between +1 and −1", "diverges")
    assert parse_choice("Diverges", options) == "diverges"
    assert parse_choice("b", options) == options[1] and parse_choice("(c)", options) == "diverges"
    assert parse_choice("2", options) == options[1] and parse_choice("conv", options) == options[0]
    with pytest.raises(AnswerError, match="not one of the options"):
        parse_choice("explodes", options)
    items = ("C1", "C3", "C5", "F6", "output")
    assert parse_order("C5 > F6 > C3 > output > C1", items) == ("C5", "F6", "C3", "output", "C1")
    assert parse_order("c5, f6, c3, output, c1", items) == ("C5", "F6", "C3", "output", "C1")
    assert parse_order(["C5", "F6", "C3", "output", "C1"], items)[0] == "C5"
    with pytest.raises(AnswerError, match="missing: C1"):
        parse_order("C5 > F6 > C3 > output", items)
    with pytest.raises(AnswerError, match="more than once"):
        parse_order("C5, C5, C3, output, C1", items)
    assert parse_setting("?tr_lr_sgd=0.05&tr_init=default") == {"tr_lr_sgd": 0.05, "tr_init": "default"}
    assert parse_setting({"dead_shift": "-1.5", "tr_bn": "true"}) == {"dead_shift": -1.5, "tr_bn": True}
    with pytest.raises(AnswerError, match="settings you changed"):
        parse_setting("")


GARBAGE = ["", "   ", None, "1e400", "NaN", "inf", "-inf", "x" * 100_000, "\x00\x01", "🙂", b"\xff\xfe", object(),
           {"a": 1}, [1, 2, 3] * 100, 10 ** 400, float("nan"), -1, ("a",), pd.DataFrame()]


@pytest.mark.parametrize("exercise_id", ["conv-output-shape", "conv-params", "act-which", "lenet-order-params",
                                         "reg-close-gap", "train-diverge-bug", "loss-initial"])
def test_check_never_raises_on_bad_input(exercise_id):
    v = exercise(exercise_id).variant(0)
    for raw in GARBAGE:
        result = check(v, raw)
        assert isinstance(result, Result) and not result.correct and result.message, raw
        assert "Traceback" not in result.message


def test_check_messages_for_typical_inputs():
    v = exercise("conv-params").variant(0)
    assert check(v, f"{v.expected:,} parameters").correct
    assert "Type a number" in check(v, "").message
    assert "not finite" in check(v, "1e400").message
    v = exercise("conv-output-shape").variant(0)
    batch = check(v, "1 x " + " x ".join(map(str, v.expected)))
    assert not batch.correct and batch.misconception == "included the batch dimension"


def test_targets_are_read_from_a_records_frame():
    v = exercise("train-small-accurate").variant(0)
    acc, limit = v.target.at_least[0][1], v.target.at_most[0][1]
    records = [Record("step", 1, 1, train_loss=2.3, train_acc=0.1),
               Record("epoch", 1, 10, train_loss=0.5, train_acc=0.9, val_loss=0.6, val_acc=acc - 0.05),
               Record("epoch", 2, 20, train_loss=0.1, train_acc=0.99, val_loss=0.1, val_acc=acc + 0.001)]
    frame = records_to_frame(records)
    metrics = run_metrics(frame)
    assert metrics["val_accuracy"] == acc + 0.001 and metrics["epochs"] == 2 and metrics["first_loss"] == 2.3
    assert check(v, {"records": frame, "params": limit}).correct
    too_big = check(v, {"records": frame, "params": limit + 1})
    assert not too_big.correct and too_big.misconception == "used a model larger than allowed"
    missing = check(v, frame)  # the frame has no parameter count
    assert not missing.correct and "params" in missing.message
