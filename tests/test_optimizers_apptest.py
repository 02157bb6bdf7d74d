"""The optimizer page under AppTest: a two-optimizer comparison, a diverging run, JSON import, the 2-D tab."""
from __future__ import annotations

import json

import pytest

from cnn_core.experiments.sharing import ComparisonSettings, SurfaceSettings, labelled, settings_to_json
from cnn_core.teaching.toy_surfaces import SURFACES
from cnn_core.training import TrainConfig
from cnn_core.training.optimizers import configure

PAGE = "pages/7_Optimizers.py"


@pytest.fixture
def page(app_test):
    at = app_test(PAGE, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    # Small and fast: 10 images per class, one epoch.
    at.number_input(key="cnn_per_class").set_value(10)
    at.number_input(key="cnn_epochs").set_value(1)
    return at.run()


def chart_titles(at) -> list[str]:
    titles = []
    for chart in at.get("arrow_vega_lite_chart") + at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        for part in [spec, *spec.get("hconcat", []), *spec.get("layer", [])]:
            title = part.get("title")
            if title:
                titles.append(title if isinstance(title, str) else title.get("text", ""))
    return titles


def summary(at):
    tables = [df.value for df in at.dataframe if "final val acc %" in df.value.columns]
    assert len(tables) == 1
    return tables[0].set_index("run")


def test_a_comparison_of_two_optimizers_shows_charts_and_the_summary_table(page):
    at = page.button(key="cnn_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    titles = chart_titles(at)
    for expected in ("Learning rate per step (the schedule)", "Training loss per step (smoothed)",
                     "Validation accuracy per epoch", "Loss against step (log scale)"):
        assert expected in titles, titles
    table = summary(at)
    assert list(table.index) == ["SGD lr=0.05", "Adam lr=0.001"]
    assert all(0 <= float(v) <= 100 for v in table["final val acc %"])
    # 70 images, 3 steps: a run still at chance (10 % +- 5 points) is flagged 'not learning', the others finish
    assert list(table["status"]) == ["not learning" if abs(float(v) - 10) <= 5 else "finished"
                                     for v in table["final val acc %"]]
    experiment = at.session_state["opt_cnn_experiment"]
    assert experiment.status == "finished" and experiment.from_cache == ()
    assert {len([r for r in h if r.kind == "epoch"]) for h in experiment.histories.values()} == {1}
    assert any(b.label.startswith("⬇ Results") for b in at.get("download_button"))
    # The same request again comes from the cache: nothing is trained twice.
    at = at.button(key="cnn_run").click().run()
    assert at.session_state["opt_cnn_experiment"].from_cache == ("SGD lr=0.05", "Adam lr=0.001")
    assert list(summary(at).index) == ["SGD lr=0.05", "Adam lr=0.001"]
    # Changing a setting keeps the results on the page, marked as belonging to the earlier settings.
    at = at.number_input(key="cnn_seed").set_value(1).run()
    assert any("earlier settings" in i.value for i in at.info) and len(summary(at)) == 2


def test_the_page_draws_in_turns_and_no_way_through_it_keeps_a_turn(page):
    from pages.common.live import turns

    # the next run of this session is a rerun, not a first load
    assert page.session_state["turns_seen_7_Optimizers"] is True
    at = page.button(key="cnn_run").click().run()  # queued, trained (turn given back), results (turn taken again)
    assert not at.exception and len(summary(at)) == 2
    assert turns.gate().counts() == (0, 0) and not turns.holds_turn()


def test_a_diverging_setting_is_marked_while_the_other_run_finishes(page):
    page.number_input(key="cnn_row0_lr").set_value(10.0)
    at = page.button(key="cnn_run").click().run()
    assert not at.exception
    table = summary(at)
    assert table.loc["SGD lr=10", "status"] == "diverged"
    assert table.loc["Adam lr=0.001", "status"] == "finished" and table.loc["Adam lr=0.001", "final val acc %"] != "—"
    assert any("SGD lr=10" in w.value and "Diverged" in w.value for w in at.warning)
    crosses = [layer for chart in at.get("arrow_vega_lite_chart") + at.get("vega_lite_chart")
               for layer in json.loads(chart.proto.spec).get("layer", [])
               if isinstance(layer.get("mark"), dict) and layer["mark"].get("shape") == "cross"]
    assert len(crosses) == 1, "the loss chart marks where the run diverged"


def test_rows_can_be_added_and_removed_within_two_to_six(page):
    at = page.button(key="cnn_add").click().run()
    assert at.session_state["cnn_rows"] == 3 and at.session_state["cnn_row2_opt"] == "momentum"
    at = at.button(key="cnn_remove0").click().run()
    assert [at.session_state[f"cnn_row{i}_opt"] for i in range(2)] == ["adam", "momentum"]
    assert at.button(key="cnn_remove0").disabled and not at.button(key="cnn_add").disabled
    at.selectbox(key="cnn_row1_opt").set_value("rmsprop").run()  # a new optimizer starts from its defaults
    assert at.session_state["cnn_row1_lr"] == 0.001 and at.session_state["cnn_row1_alpha"] == 0.99


def test_importing_malformed_json_shows_a_clear_message_and_valid_json_sets_every_widget(page):
    at = page.text_area(key="opt_import_text").input('{"version": 1, "runs": [').run()
    at = at.button(key="opt_import").click().run()
    assert any("Could not load these settings" in e.value and "Not valid JSON" in e.value for e in at.error)
    bad = json.dumps({"version": 1, "runs": [{"optimizer": "adam", "lr": "fast"}]})
    at = at.text_area(key="opt_import_text").input(bad).run()
    at = at.button(key="opt_import").click().run()
    assert any("runs[0].lr: expected a number, got 'fast'" in e.value for e in at.error)

    settings = ComparisonSettings(
        labelled({"a": configure("nesterov", 0.01, momentum=0.8), "b": configure("adagrad"), "c": configure("adam")}),
        base=TrainConfig(model="mlp", per_class=30, epochs=3, batch_size=64, seed=5), target_loss=0.8,
        surface=SurfaceSettings("bowl", 20.0, None, 80, labelled({"s": configure("sgd", 0.01)})))
    at = at.text_area(key="opt_import_text").input(settings_to_json(settings)).run()
    at = at.button(key="opt_import").click().run()
    assert not at.exception and not at.error
    assert any("Loaded 3 CNN runs" in s.value for s in at.success)
    state = at.session_state
    assert state["cnn_rows"] == 3 and state["cnn_row0_opt"] == "nesterov" and state["cnn_row0_momentum"] == 0.8
    assert (state["cnn_model"], state["cnn_per_class"], state["cnn_epochs"], state["cnn_batch"], state["cnn_seed"]) == (
        "mlp", 30, 3, 64, 5)
    assert (state["toy_fn"], state["toy_cond"], state["toy_steps"], state["toy_rows"]) == ("bowl", 20.0, 80, 1)
    assert (state["toy_x"], state["toy_y"]) == SURFACES["bowl"].start


def test_the_2d_tab_draws_every_path_and_flags_a_diverging_one(page):
    at = page.selectbox(key="toy_fn").set_value("bowl").run()
    assert (at.session_state["toy_x"], at.session_state["toy_y"]) == SURFACES["bowl"].start
    assert at.session_state["toy_row0_lr"] == 0.035  # the bowl's suggested SGD rate (below 2 / kappa = 0.04)
    tables = [df.value for df in at.dataframe if "nearest_minimum" in df.value.columns]
    assert len(tables) == 1 and len(tables[0]) == 3 and set(tables[0]["status"]) == {"ok"}
    assert "Paths from the same start (○ start, ◆ minimum)" in chart_titles(at)
    at = at.number_input(key="toy_row0_lr").set_value(0.05).run()  # above 2 / kappa = 0.04: SGD diverges
    assert any("Diverged" in w.value and "SGD lr=0.05" in w.value for w in at.warning)
    assert not at.exception


@pytest.mark.parametrize("change, message", [
    ({"train": {"batch_size": 50}}, "train.batch_size: this page offers 8, 16, 32, 64, 128, 256, not 50"),
    ({"train": {"epochs": 100}}, "train.epochs: this page takes 1 to 50, got 100"),
    ({"train": {"model": "deep-mlp"}}, "train.model: this page trains"),
    ({"surface": {"steps": 4000}}, "surface.steps: this page takes 10 to 2000, got 4000"),
])
def test_valid_settings_that_the_page_cannot_show_are_refused_by_name(app_test, change, message):
    at = app_test(PAGE, default_timeout=120).run()
    settings = json.loads(settings_to_json(ComparisonSettings(labelled({"a": configure("sgd")}),
                                                              surface=SurfaceSettings())))
    for part, values in change.items():
        settings[part].update(values)
    at = at.text_area(key="opt_import_text").input(json.dumps(settings)).run()
    at = at.button(key="opt_import").click().run()
    assert not at.exception
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert at.session_state["cnn_epochs"] == 2  # nothing was changed
