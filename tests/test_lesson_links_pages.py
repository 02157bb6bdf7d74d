"""Lesson links on the real pages (AppTest): a link's value reaches the widget; a hostile link is a note."""
from __future__ import annotations

import pytest

# (page file, key of a linked number input, a valid non-default value)
PAGES = [
    ("8_Train.py", "tr_seed", 7),
    ("7_Optimizers.py", "cnn_epochs", 3),
    ("6_Regularization.py", "reg_seed", 5),
    ("9_Hyperparameter_Tuning.py", "hp_seed", 3),
    ("1_From_ANNs_to_CNNs.py", "growth_hidden", 300),
    ("3_Basic_Layers.py", "conv_stride", 2),
    ("5_Weight_Initialization.py", "init_seed", 9),
]


def open_page(app_test, file: str, params: dict[str, str]):
    at = app_test(f"pages/{file}", default_timeout=90)
    at.query_params.update(params)
    return at.run()


@pytest.mark.parametrize("file, key, value", PAGES, ids=[p[0] for p in PAGES])
def test_a_link_value_reaches_the_widget(app_test, file, key, value):
    at = open_page(app_test, file, {key: str(value)})
    assert not at.exception, [e.value for e in at.exception]
    assert at.number_input(key=key).value == value
    assert not [w for w in at.warning if "could not be used" in w.value]


@pytest.mark.parametrize("file, key, value", PAGES, ids=[p[0] for p in PAGES])
def test_a_hostile_link_is_a_note_never_a_traceback(app_test, file, key, value):
    at = open_page(app_test, file, {key: "1e400", "zz<script>": "x" * 3000, "lock": "../../x," * 50})
    assert not at.exception, [e.value for e in at.exception]
    [note] = [w.value for w in at.warning if "could not be used" in w.value]
    assert f"`{key}` = `1e400`" in note and "is not a setting of this page" in note
    fresh = open_page(app_test, file, {})
    assert at.number_input(key=key).value == fresh.number_input(key=key).value  # the default


def test_layer_visualization_link_sets_its_controls(app_test):
    at = open_page(app_test, "4_Layer_Visualization.py", {"lv_cmap": "magma", "lv_count": "999"})
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="lv_cmap").value == "magma"
    assert at.slider(key="lv_count").value == 16  # 999 is past the slider's 64: the default, with a note
    [note] = [w.value for w in at.warning if "could not be used" in w.value]
    assert "`lv_count` = `999` is outside 1 to 64" in note
