"""AppTest: the weight-initialization and regularization pages run end to end and draw their charts."""
from __future__ import annotations

import json

import pandas as pd

from cnn_core.experiments.compare import comparison_frame
from cnn_core.training import Record
from pages.common.charts import train_val_facets


def chart_titles(at) -> list[str]:
    """Every title (chart, layer or facet) found in the page's Vega-Lite specs."""
    titles = []

    def walk(node):
        if isinstance(node, dict):
            title = node.get("title")
            if isinstance(title, str):
                titles.append(title)
            elif isinstance(title, dict) and isinstance(title.get("text"), str):
                titles.append(title["text"])
            elif isinstance(title, dict) and isinstance(title.get("text"), list):  # a title wrapped into lines
                titles.append(" ".join(title["text"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for chart in at.get("vega_lite_chart"):
        walk(json.loads(chart.proto.spec))
    return titles


def colour_scales(at) -> dict[str, dict]:
    """Chart title -> the scale of its colour encoding (domain, scheme), from the Vega-Lite specs."""
    out = {}
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        title = spec.get("title")
        title = title.get("text") if isinstance(title, dict) else title
        title = " ".join(title) if isinstance(title, list) else title  # a title wrapped into lines
        colour = spec.get("encoding", {}).get("color", {})
        if title and "scale" in colour:
            out[title] = {k: colour["scale"].get(k) for k in ("domain", "scheme", "range")}
    return out


def test_init_page_at_init_view_and_a_short_training_comparison(app_test):
    at = app_test("pages/5_Weight_Initialization.py", default_timeout=180).run()
    assert not at.exception and not at.error
    titles = chart_titles(at)
    for wanted in ("Forward: std of each layer's activations", "Backward: std of the activation gradients",
                   "Dead ReLUs: units that output 0 for every image"):
        assert wanted in titles
    assert any(t.startswith("Activation histograms per layer") for t in titles)
    assert len(at.get("vega_lite_chart")) == 6
    assert len([m for m in at.markdown if m.value.startswith("$\\displaystyle")]) >= 6  # variance rule + one per scheme
    first_pass = at.dataframe[0].value
    assert list(first_pass["scheme"]) == ["All zeros", "Normal, std 0.01", "Normal, std 1.0",
                                          "Xavier/Glorot normal (2010, gain 1)", "Kaiming/He normal (fan_in)"]
    assert first_pass.loc[0, "initial loss"] == "2.303"

    at.radio(key="init_activation").set_value("tanh").run()
    assert not at.exception
    assert any(t.startswith("Saturated tanh outputs") for t in chart_titles(at))

    at.radio(key="init_activation").set_value("relu")
    at.multiselect(key="init_schemes").set_value(["zeros", "kaiming-normal-fan-in"])
    at.slider(key="init_epochs").set_value(1)
    at.select_slider(key="init_per_class").set_value(100)
    at.selectbox(key="init_opt").set_value("adam")  # 16 Adam steps: Kaiming reaches ~50 %, zeros stays at ~10 %
    at.run()
    at.button(key="init_train_start").click().run()
    assert not at.exception and not at.error
    titles = chart_titles(at)
    assert "Training loss per step (smoothed)" in titles and "Validation accuracy per epoch" in titles
    table = at.dataframe[-1].value.set_index("run")
    assert list(table.index) == ["All zeros", "Kaiming/He normal (fan_in)"]
    assert table.loc["All zeros", "identical hidden layers"] == "10 of 10"
    assert table.loc["Kaiming/He normal (fan_in)", "identical hidden layers"] == "0 of 10"
    assert table.loc["All zeros", "final_val_acc"] < 0.2 < table.loc["Kaiming/He normal (fan_in)", "final_val_acc"]
    assert at.session_state["init_experiment"].status == "finished"
    # one colour per scheme on both tabs: every chart's colour scale has the same domain (and the same scheme)
    scales = colour_scales(at)
    assert scales["Training loss per step (smoothed)"] == scales["Forward: std of each layer's activations"]
    assert scales["Validation accuracy per epoch"] == scales["Forward: std of each layer's activations"]
    assert scales["Forward: std of each layer's activations"]["domain"] == ["All zeros", "Kaiming/He normal (fan_in)"]


def test_regularization_page_two_variants(app_test):
    at = app_test("pages/6_Regularization.py", default_timeout=180).run()
    assert not at.exception and not at.error
    assert len(at.get("image")) == 1  # the augmentation preview grid
    at.multiselect(key="reg_variants").set_value(["none", "dropout"])
    at.slider(key="reg_per_class").set_value(20)
    at.slider(key="reg_epochs").set_value(5)
    at.run()
    at.button(key="reg_start").click().run()
    assert not at.exception and not at.error
    titles = chart_titles(at)
    assert "Training vs validation loss (shaded: the generalization gap)" in titles
    assert "Distribution of |w| (conv and linear weights)" in titles
    summary, weights = at.dataframe[-2].value, at.dataframe[-1].value
    assert list(summary["run"]) == ["No regularization", "Dropout p=0.5"]
    assert list(summary["epochs"]) == [5, 5]
    assert list(weights["run"]) == ["No regularization", "Dropout p=0.5"]
    assert (weights["l2_norm"] > 0).all()
    at.radio(key="reg_metric").set_value("accuracy").run()
    assert "Training vs validation accuracy (shaded: the generalization gap)" in chart_titles(at)


def test_facets_mark_early_stopping_epochs():
    records = [Record("epoch", e, e * 4, train_loss=1 / e, val_loss=0.5 + abs(e - 2) * 0.1, train_acc=0.5,
                      val_acc=0.5) for e in (1, 2, 3, 4)]
    tidy = comparison_frame({"a": records, "b": records})
    marks = pd.DataFrame([{"run": "b", "epoch": 4, "event": "stopped"},
                          {"run": "b", "epoch": 2, "event": "best epoch (weights restored)"}])
    spec = train_val_facets(tidy, "loss", marks=marks).to_dict()
    layers = spec["spec"]["layer"]
    assert [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in layers] == [
        "area", "line", "rule"]
    assert spec["facet"]["sort"] == ["a", "b"]
    data = next(iter(spec["datasets"].values()))
    assert sorted(row["mark_epoch"] for row in data if row.get("mark_epoch") == row.get("mark_epoch")
                  and row.get("mark_epoch") is not None) == [2, 4]
    without = train_val_facets(tidy, "loss").to_dict()
    assert len(without["spec"]["layer"]) == 2
