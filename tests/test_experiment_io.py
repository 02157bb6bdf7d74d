"""Sharing a comparison: settings to/from versioned JSON (clear errors naming the field), results to CSV."""
from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from cnn_core import ModelOptions, TrainConfig
from cnn_core.errors import InvalidConfig
from cnn_core.experiments.compare import comparison_frame, summary_table
from cnn_core.experiments.sharing import (FORMAT, VERSION, ComparisonSettings, LabelledOptimizer, SurfaceSettings,
                                          labelled, results_csv, settings_from_json, settings_to_dict, settings_to_json)
from cnn_core.training import Record
from cnn_core.training.optimizers import ScheduleConfig, configure


def example() -> ComparisonSettings:
    runs = labelled({"plain SGD": configure("sgd", 0.1), "Adam fast": configure("adam", 0.01, beta1=0.8),
                     "AdamW no decay": configure("adamw", weight_decay=0.0)})
    surface = SurfaceSettings("bowl", 30.0, (1.5, -2.0), 120,
                              labelled({"m": configure("momentum", 0.01, momentum=0.5)}),
                              ScheduleConfig("exponential", step_every=20, gamma=0.7))
    base = TrainConfig(per_class=50, epochs=3, batch_size=16, seed=7, model="plain-cnn",
                       model_options=ModelOptions(depth=4))
    return ComparisonSettings(runs, ScheduleConfig("cosine", warmup_steps=5, min_factor=0.1), base, 0.3, surface)


def valid_dict() -> dict:
    return settings_to_dict(example())


def test_round_trip_gives_back_equal_settings():
    settings = example()
    text = settings_to_json(settings)
    assert settings_from_json(text) == settings
    assert settings_from_json(text.encode("utf-8")) == settings


def test_json_is_readable_and_versioned():
    data = json.loads(settings_to_json(example()))
    assert data["format"] == FORMAT and data["version"] == VERSION == 1
    assert data["runs"][1] == {"label": "Adam fast", "optimizer": "adam", "lr": 0.01, "weight_decay": 0.0,
                               "beta1": 0.8, "beta2": 0.999}
    assert "optimizer" not in data["train"] and data["train"]["epochs"] == 3
    assert data["surface"]["start"] == [1.5, -2.0] and data["surface"]["function"] == "bowl"


def test_train_configs_share_everything_but_the_optimizer():
    settings = example()
    configs = settings.train_configs()
    assert list(configs) == ["plain SGD", "Adam fast", "AdamW no decay"]
    assert configs["Adam fast"].optimizer == configure("adam", 0.01, beta1=0.8)
    assert {c.schedule for c in configs.values()} == {settings.schedule}
    assert {(c.model, c.epochs, c.seed, c.per_class, c.model_options.depth) for c in configs.values()} == {
        ("plain-cnn", 3, 7, 50, 4)}


def test_a_hand_written_minimal_file_works_and_labels_are_generated():
    settings = settings_from_json('{"version": 1, "runs": [{"optimizer": "sgd"}, {"optimizer": "adam", "lr": 0.003}]}')
    assert [r.label for r in settings.runs] == ["SGD lr=0.05", "Adam lr=0.003"]
    assert settings.base == TrainConfig() and settings.surface is None


def mutate(path, value):
    data = valid_dict()
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(data)


@pytest.mark.parametrize("text, message", [
    ('{"version": 1, "runs": [', "Not valid JSON"),
    ("", "empty"),
    ("[1, 2]", "expected an object"),
    (mutate(["version"], KeyError), "version: missing"),
    (mutate(["version"], 2), "newer playground (version 2)"),
    (mutate(["version"], "one"), "version: expected a whole number"),
    (mutate(["format"], "something-else"), "not an optimizer comparison"),
    (mutate(["runs"], KeyError), "runs: missing"),
    (mutate(["runs"], []), "runs: a comparison has 1 to 6 runs, got 0"),
    (mutate(["runs"], [{"optimizer": "sgd"}] * 7), "got 7"),
    (mutate(["runs", 0, "lr"], "fast"), "runs[0].lr: expected a number, got 'fast'"),
    (mutate(["runs", 0, "lr"], 1000), "runs[0].lr: must be in"),
    (mutate(["runs", 1, "optimizer"], "adamm"), "runs[1].optimizer: unknown optimizer 'adamm'"),
    (mutate(["runs", 1, "momentum"], 0.9), "runs[1]: Adam has no setting 'momentum'"),
    (mutate(["runs", 1, "beta2"], True), "runs[1].beta2: expected a number"),
    (mutate(["runs", 2, "label"], "plain SGD"), "labels must be unique; repeated: plain SGD"),
    (mutate(["train", "epochs"], "3"), "train.epochs: expected an integer, got '3'"),
    (mutate(["train", "epochs"], 0), "Epochs must be 1..200"),
    (mutate(["train", "dataset"], "imagenet"), "train.dataset: unknown dataset 'imagenet'"),
    (mutate(["train", "colour"], "red"), "train: unknown field(s) colour"),
    (mutate(["train", "optimizer"], {"name": "sgd"}), "train.optimizer: set optimizers under 'runs'"),
    (mutate(["schedule", "name"], "linear"), "schedule: Unknown schedule 'linear'"),
    (mutate(["schedule", "warmup_steps"], 1.5), "schedule.warmup_steps: expected an integer"),
    (mutate(["target_loss"], -1), "target_loss: must be in"),
    (mutate(["surface", "function"], "ackley"), "surface.function: unknown test function 'ackley'"),
    (mutate(["surface", "start"], [1]), "surface.start: expected [x, y]"),
    (mutate(["surface", "steps"], 10 ** 9), "surface.steps: must be in"),
    (mutate(["extra"], 1), "settings: unknown field(s) extra"),
])
def test_malformed_settings_give_a_clear_message_naming_the_field(text, message):
    with pytest.raises(InvalidConfig) as info:
        settings_from_json(text)
    assert message in str(info.value)


def test_binary_and_oversized_input_are_refused():
    with pytest.raises(InvalidConfig, match="not UTF-8"):
        settings_from_json(b"\xff\xfe\x00garbage")
    with pytest.raises(InvalidConfig, match="too large"):
        settings_from_json(b" " * 2_000_000)


def test_results_export_as_csv():
    records = {"a": [Record("step", 1, 1, train_loss=2.0, train_acc=0.1, lr=0.1, grad_norm=1.0),
                     Record("epoch", 1, 1, train_loss=2.0, train_acc=0.1, val_loss=1.9, val_acc=0.2)],
               "b": [Record("diverged", 1, 0, message="Diverged at step 1")]}
    frame = comparison_frame(records)
    back = pd.read_csv(io.StringIO(results_csv(frame)))
    assert list(back.columns) == ["run", "epoch", "step", "split", "metric", "value"]
    assert len(back) == len(frame) == 8
    summary = pd.read_csv(io.StringIO(results_csv(summary_table(records))))
    assert summary.set_index("run").loc["b", "status"] == "diverged"


def test_labelled_keeps_order():
    runs = labelled({"z": configure("sgd"), "a": configure("adam")})
    assert runs == (LabelledOptimizer("z", configure("sgd")), LabelledOptimizer("a", configure("adam")))


def test_a_surface_part_without_runs_round_trips():
    settings = ComparisonSettings(labelled({"a": configure("sgd")}), surface=SurfaceSettings("saddle", steps=50))
    data = settings_to_dict(settings)
    assert "runs" not in data["surface"]
    assert settings_from_json(settings_to_json(settings)) == settings
