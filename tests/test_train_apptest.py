"""The Train and Hyper-parameter Tuning pages under AppTest: train, continue, stop, checks, tuning."""
from __future__ import annotations

import json
import re

import pytest

from cnn_core import TrainConfig, TrainingRun, load_dataset
from cnn_core.models import LENET5_SPECS
from pages.common.session_keys import CUSTOM_ARCHITECTURE, SESSION_CHECKPOINTS

TRAIN, TUNE = "pages/8_Train.py", "pages/9_Hyperparameter_Tuning.py"


def chart_titles(at) -> list[str]:
    titles = []
    for chart in at.get("arrow_vega_lite_chart") + at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        title = spec.get("title")
        titles.append(title if isinstance(title, str) else (title or {}).get("text", ""))
    return titles


def small_train_page(app_test, per_class: int = 30, epochs: int = 1):
    at = app_test(TRAIN, default_timeout=120).run()
    at.number_input(key="tr_per_class").set_value(per_class)
    at.slider(key="tr_epochs").set_value(epochs)
    return at.run()


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_train_one_epoch_shows_confusion_matrix_and_continues(app_test, tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_PLAYGROUND_RUNS", str(tmp_path / "runs"))
    at = small_train_page(app_test)
    at.checkbox(key="tr_tensorboard").check()
    at.button(key="tr_train").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    titles = chart_titles(at)
    assert "Confusion matrix on the test split (rows: truth)" in titles
    assert "Accuracy per class (test split)" in titles and "Loss per step" in titles
    assert metric(at, "Epochs trained") == "1"
    assert any(h.value.startswith("Misclassified test images") for h in at.subheader)
    run = at.session_state["train_run"]
    assert run.status == "finished" and run.epoch == 1 and run.config.per_class == 30
    shared = at.session_state[SESSION_CHECKPOINTS]
    assert len(shared) == 1 and next(iter(shared)).startswith("Train page: LeNet-5 on mnist-5k, 1 epoch(s)")
    logs = list((tmp_path / "runs" / "sessions").glob("*/*"))  # runs/sessions/<session>/<run>
    assert len(logs) == 1 and any(f.name.startswith("events.out.tfevents") for f in logs[0].iterdir())
    notices = [s.value for s in at.success if logs[0].name in s.value]  # the TensorBoard tab names the run ...
    assert notices and not any(str(tmp_path) in n for n in notices)  # ... but never the server's own path

    at.number_input(key="tr_more").set_value(2)
    at.button(key="tr_continue").click().run()
    assert not at.exception
    assert at.session_state["train_run"] is run and run.epoch == 3
    assert metric(at, "Epochs trained") == "3"
    assert [r.epoch for r in run.history if r.kind == "epoch"] == [1, 2, 3]
    assert len(at.session_state[SESSION_CHECKPOINTS]) == 1  # the same run replaces its entry
    assert "3 epoch(s)" in next(iter(at.session_state[SESSION_CHECKPOINTS]))


def test_a_stopped_run_keeps_its_partial_history_and_can_continue(app_test):
    data = load_dataset(per_class=30)
    run = TrainingRun(TrainConfig(per_class=30, epochs=2), data)
    records = run.records()
    for _ in range(5):  # what the page's loop has done when Stop interrupts it
        next(records)
    at = app_test(TRAIN, default_timeout=120)
    at.session_state["train_run"] = run
    at.run()
    assert not at.exception
    assert any("Stopped after 5 steps" in w.value for w in at.warning)
    assert run.status == "stopped" and len(run.history) == 5
    # Continue 2 epochs: the stopped epoch 1 is finished where it stopped (not skipped), then epoch 2
    at.number_input(key="tr_more").set_value(2)
    at.button(key="tr_continue").click().run()
    assert run.status == "finished" and run.epoch == 2 and not at.warning
    assert [r.epoch for r in run.history if r.kind == "epoch"] == [1, 2]


def test_sanity_checks_pass_with_one_click_each_and_fail_with_zero_init(app_test):
    at = small_train_page(app_test)
    for key in ("init", "overfit", "grads"):
        at.button(key=f"tr_check_{key}").click().run()
    assert not at.exception
    messages = [s.value for s in at.success]
    assert len(messages) == 3 and all(m.startswith("Pass") or "Pass:" in m for m in messages), messages
    assert any("ln(10) = 2.3026" in m for m in messages)
    assert "Overfitting one batch" in chart_titles(at)
    assert "Gradient norm per layer after one backward pass" in chart_titles(at)
    at.selectbox(key="tr_init").set_value("zeros").run()
    at.button(key="tr_check_grads").click().run()
    assert any("Fail: no (or no finite) gradient reaches features.0" in e.value for e in at.error)


def test_loss_functions_tab_plots_every_loss_with_formulas(app_test):
    at = app_test(TRAIN, default_timeout=120).run()
    at.selectbox(key="tr_loss").set_value("hinge").run()
    assert not at.exception
    assert {"Loss of one sample", "Gradient on the true class's logit"} <= set(chart_titles(at))
    assert len([m for m in at.markdown if m.value.startswith("$\\displaystyle")]) == 5  # one formula per loss
    assert any("Multi-class hinge** ← used for training" in m.value for m in at.markdown)


def test_custom_architecture_is_offered_and_its_input_is_checked(app_test):
    at = app_test(TRAIN, default_timeout=120)
    at.session_state[CUSTOM_ARCHITECTURE] = (LENET5_SPECS, (1, 28, 28))
    at.run()
    assert "Custom (from the Architecture page)" in at.selectbox(key="tr_model").options
    at.selectbox(key="tr_model").set_value("custom-session")
    at.number_input(key="tr_per_class").set_value(20)
    at.slider(key="tr_epochs").set_value(1)
    at.run()
    at.button(key="tr_train").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.session_state["train_run"].config.model == "custom"

    at2 = app_test(TRAIN, default_timeout=120)
    at2.session_state[CUSTOM_ARCHITECTURE] = (LENET5_SPECS, (3, 32, 32))
    at2.run()
    at2.selectbox(key="tr_model").set_value("custom-session").run()
    assert any("takes 3x32x32 inputs" in e.value and "1x28x28" in e.value for e in at2.error)
    assert at2.button(key="tr_train").disabled


def test_tuning_page_range_test_and_grid_search(app_test):
    at = app_test(TUNE, default_timeout=120).run()
    assert not at.exception
    at.slider(key="hp_lr_steps").set_value(40)
    at.button(key="hp_lr_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    suggested = float(metric(at, "Suggested lr"))
    assert 1e-5 < suggested < 1.0
    # labels short enough not to be cut on a laptop, every rate in one format (1.0e-03)
    assert all(len(m.label) <= 18 for m in at.metric)
    assert all(re.fullmatch(r"\d\.\de[+-]\d\d", m.value) for m in at.metric)
    assert "Learning-rate range test" in chart_titles(at)
    spec = next(json.loads(c.proto.spec) for c in at.get("arrow_vega_lite_chart") + at.get("vega_lite_chart")
                if json.loads(c.proto.spec).get("title") == "Learning-rate range test")
    assert '"type": "log"' in json.dumps(spec)

    at.slider(key="hp_epochs").set_value(1)
    at.button(key="hp_search_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    results = at.dataframe[0].value
    assert len(results) == 4 and results["val_accuracy"].is_monotonic_decreasing
    assert {"Learning rate", "Batch size", "Weight decay"} <= set(chart_titles(at))


@pytest.mark.slow
def test_tuning_page_random_search(app_test):
    at = app_test(TUNE, default_timeout=120).run()
    at.radio(key="hp_kind").set_value("Random").run()
    at.slider(key="hp_rand_n").set_value(3)
    at.slider(key="hp_epochs").set_value(1)
    at.button(key="hp_search_run").click().run()
    assert not at.exception and not at.error
    assert len(at.dataframe[0].value) == 3
