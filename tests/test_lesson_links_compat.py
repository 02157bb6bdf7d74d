"""Lesson links written before the pages moved into their rooms still open the same setup (AppTest).

Each link below is a query string as the "Copy link" button wrote it: the keys are the widgets' keys and a
choice is written as its label (Streamlit's format for widgets bound to the address).
"""
from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

LINKS = [
    ("3_Basic_Layers.py", "conv_kernel=Blur+%28box%29+3x3&conv_stride=2&conv_padding=1",
     {"conv_kernel": ("selectbox", "blur-3x3"), "conv_stride": ("number_input", 2),
      "conv_padding": ("number_input", 1)}),
    ("5_Weight_Initialization.py", "init_depth=20&init_activation=tanh&init_seed=9",
     {"init_depth": ("slider", 20), "init_activation": ("radio", "tanh"), "init_seed": ("number_input", 9)}),
    ("8_Train.py", "tr_seed=7&tr_dropout=0.25&tr_epochs=2",
     {"tr_seed": ("number_input", 7), "tr_dropout": ("slider", 0.25), "tr_epochs": ("slider", 2)}),
    ("10_Detection.py", "det_section=Scenes&sc_seed=5",
     {"det_section": ("radio", "Scenes"), "sc_seed": ("number_input", 5)}),
    ("7_Optimizers.py", "cnn_epochs=3",
     {"cnn_epochs": ("number_input", 3)}),
]


@pytest.mark.parametrize("file, query, expected", LINKS, ids=[link[0] for link in LINKS])
def test_an_old_link_opens_the_same_setup(app_test, file, query, expected):
    at = app_test("playground.py", default_timeout=90).run()
    at.query_params.update(dict(parse_qsl(query)))
    at.switch_page(f"pages/{file}").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [w.value for w in at.warning if "could not be used" in w.value]
    for key, (kind, value) in expected.items():
        assert getattr(at, kind)(key=key).value == value, key
