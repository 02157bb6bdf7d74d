"""Lesson links on the real pages (AppTest): a link's value reaches the widget; a hostile link is a note."""
from __future__ import annotations

import json

import pytest

# (page file, key of a linked number input, a valid non-default value, what else the link needs to show it)
PAGES = [
    ("8_Train.py", "tr_seed", 7, {}),
    ("7_Optimizers.py", "cnn_epochs", 3, {}),
    ("6_Regularization.py", "reg_seed", 5, {}),
    ("9_Hyperparameter_Tuning.py", "hp_seed", 3, {}),
    ("1_From_ANNs_to_CNNs.py", "growth_hidden", 300, {}),
    ("2_Architecture.py", "arch_in_size", 32, {}),
    ("3_Basic_Layers.py", "conv_stride", 2, {}),
    ("4_Layer_Visualization.py", "lv_digit", 7, {"lv_source": "Test digit"}),
    ("5_Weight_Initialization.py", "init_seed", 9, {}),
    ("10_Detection.py", "sc_seed", 5, {"det_section": "Scenes"}),
    ("11_Segmentation.py", "seg_epochs", 5, {}),
]
IDS = [p[0] for p in PAGES]


def open_page(app_test, file: str, params: dict[str, str]):
    at = app_test(f"pages/{file}", default_timeout=90)
    at.query_params.update(params)
    return at.run()


def link_notes(at) -> list[str]:
    return [w.value for w in at.warning if "could not be used" in w.value]


@pytest.mark.parametrize("file, key, value, extra", PAGES, ids=IDS)
def test_a_link_value_reaches_the_widget(app_test, file, key, value, extra):
    at = open_page(app_test, file, {**extra, key: str(value)})
    assert not at.exception, [e.value for e in at.exception]
    assert at.number_input(key=key).value == value
    assert not link_notes(at)


@pytest.mark.parametrize("file, key, value, extra", PAGES, ids=IDS)
def test_a_hostile_link_is_a_note_never_a_traceback(app_test, file, key, value, extra):
    at = open_page(app_test, file, {**extra, key: "1e400", "zz<script>": "x" * 3000, "lock": "../../x," * 50})
    assert not at.exception, [e.value for e in at.exception]
    [note] = link_notes(at)
    assert f"`{key}` = `1e400`" in note and "is not a setting of this page" in note
    fresh = open_page(app_test, file, extra)
    assert at.number_input(key=key).value == fresh.number_input(key=key).value  # the default


@pytest.mark.parametrize("bad, why", [("-1000000000", "is outside"), ("abc", "is not a number")])
@pytest.mark.parametrize("file, key, value, extra", PAGES, ids=IDS)
def test_out_of_range_and_not_a_number_are_notes(app_test, file, key, value, extra, bad, why):
    at = open_page(app_test, file, {**extra, key: bad})
    assert not at.exception, [e.value for e in at.exception]
    [note] = link_notes(at)
    assert f"`{key}` = `{bad}` {why}" in note
    box = at.number_input(key=key)
    assert box.min <= box.value <= box.max  # never past a bound (Streamlit 1.67 alone clamps or raises)
    assert key not in at.query_params  # and the bad value is gone from the address


def test_layer_visualization_link_sets_its_controls(app_test):
    at = open_page(app_test, "4_Layer_Visualization.py", {"lv_cmap": "magma", "lv_count": "999"})
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="lv_cmap").value == "magma"
    assert at.slider(key="lv_count").value == 16  # 999 is past the slider's 64: the default, with a note
    [note] = [w.value for w in at.warning if "could not be used" in w.value]
    assert "`lv_count` = `999` is outside 1 to 64" in note


def test_draw_a_digit_link_sets_the_stroke_width_within_its_bounds(app_test):
    at = open_page(app_test, "4_Layer_Visualization.py", {"lv_source": "Draw a digit", "lv_canvas_stroke": "30"})
    assert not at.exception and not link_notes(at)
    assert at.radio(key="lv_source").value == "Draw a digit" and at.slider(key="lv_canvas_stroke").value == 30
    [canvas] = at.get("bidi_component")
    assert json.loads(canvas.proto.json)["strokeWidth"] == 30  # the canvas draws with it from the first stroke
    at = open_page(app_test, "4_Layer_Visualization.py", {"lv_source": "Draw a digit", "lv_canvas_stroke": "41"})
    [note] = link_notes(at)
    assert "`lv_canvas_stroke` = `41` is outside 6 to 40" in note
    assert at.slider(key="lv_canvas_stroke").value == 22  # the page's default, not past the bound


def test_the_furthest_a_link_can_reach_on_the_vision_pages_passes_cnn_cores_validators(app_test):
    """A link value is checked against the widget's bounds; those bounds must lie inside the configs' own."""
    from cnn_core.vision.detect_train import DetectConfig
    from cnn_core.vision.segmentation import SegConfig

    at = open_page(app_test, "10_Detection.py", {"det_section": "Train the detector"})
    assert not at.exception
    epochs, seed = at.number_input(key="dt_epochs"), at.number_input(key="dt_seed")
    scenes, width, lr = (at.select_slider(key=k).options for k in ("dt_scenes", "dt_width", "dt_lr"))
    clutter = at.slider(key="dt_clutter")
    for pick in (min, max):  # both ends of every control at once
        DetectConfig(epochs=int(pick(epochs.min, epochs.max)), train_scenes=int(pick(map(int, scenes))),
                     width=int(pick(map(int, width))), lr=float(pick(map(float, lr))),
                     clutter=int(pick(clutter.min, clutter.max)), seed=int(pick(seed.min, seed.max)),
                     val_scenes=200).validate()
    at = open_page(app_test, "11_Segmentation.py", {})
    assert not at.exception
    epochs, scenes = at.number_input(key="seg_epochs"), at.select_slider(key="seg_scenes").options
    for pick in (min, max):
        for mode in at.selectbox(key="seg_mode").options:
            SegConfig(mode="digits" if "digits" in mode else "foreground", epochs=int(pick(epochs.min, epochs.max)),
                      train_scenes=int(pick(map(int, scenes)))).validate()
