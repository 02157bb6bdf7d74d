"""Lesson links on the real pages (AppTest): a link's value reaches the widget; a hostile link is a note."""
from __future__ import annotations

import pytest

# (page file, key of a linked number input, a valid non-default value, its default)
PAGES = [
    ("8_Train.py", "tr_seed", 7, 0),
    ("7_Optimizers.py", "cnn_epochs", 3, None),
    ("6_Regularization.py", "reg_seed", 5, None),
    ("9_Hyperparameter_Tuning.py", "hp_seed", 3, None),
    ("1_From_ANNs_to_CNNs.py", "growth_hidden", 300, None),
]


def open_page(app_test, file: str, params: dict[str, str]):
    at = app_test(f"pages/{file}", default_timeout=90)
    at.query_params.update(params)
    return at.run()


@pytest.mark.parametrize("file, key, value, default", PAGES, ids=[p[0] for p in PAGES])
def test_a_link_value_reaches_the_widget(app_test, file, key, value, default):
    at = open_page(app_test, file, {key: str(value)})
    assert not at.exception, [e.value for e in at.exception]
    assert at.number_input(key=key).value == value
    assert not [w for w in at.warning if "could not be used" in w.value]


@pytest.mark.parametrize("file, key, value, default", PAGES, ids=[p[0] for p in PAGES])
def test_a_hostile_link_is_a_note_never_a_traceback(app_test, file, key, value, default):
    at = open_page(app_test, file, {key: "1e400", "zz<script>": "x" * 3000, "lock": "../../x," * 50})
    assert not at.exception, [e.value for e in at.exception]
    [note] = [w.value for w in at.warning if "could not be used" in w.value]
    assert f"`{key}` = `1e400`" in note and "is not a setting of this page" in note
    fresh = open_page(app_test, file, {})
    assert at.number_input(key=key).value == fresh.number_input(key=key).value  # the default
