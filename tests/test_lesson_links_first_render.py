"""A lesson link's value is what a widget shows from its FIRST render, not one rerun later.

Streamlit's frontend draws a widget at the default its element declares, then applies a seeded value in a
later render (up to a second later on a busy page: time enough to press Run on the page's default). So the
element of the first run must already declare the link's value, for every kind of widget, also where the page
starts the widget from session state; and the next runs keep the value and the address keeps the parameter.
"""
from __future__ import annotations

import pytest

APP = "tests/apps/links_first_render.py"
LINK = {"lr": "0.25", "epochs": "1", "seed": "7", "opt": "MOMENTUM", "mode": "exact", "names": ["gelu"],
        "bn": "true", "size": "64"}
EXPECTED = {"lr": 0.25, "epochs": 1, "seed": 7, "opt": "momentum", "mode": "exact", "names": ["gelu"],
            "bn": True, "size": 64}


def widgets(at) -> dict:
    """Every keyed widget of the run, by key."""
    found = {}
    for kind in ("slider", "number_input", "selectbox", "radio", "multiselect", "checkbox", "select_slider"):
        for w in at.get(kind):
            found[w.key] = w
    return found


def first_frame_matches(widget) -> bool:
    """Whether the element's declared default (what the browser draws first) is the widget's resolved value."""
    proto, kind = widget.proto, type(widget).__name__
    if kind in ("Selectbox", "Radio"):
        return proto.default == widget.index
    if kind == "Multiselect":
        return list(proto.default) == list(widget.indices)
    if kind == "SelectSlider":
        return [proto.options[int(i)] for i in proto.default] == [str(widget.value)]
    if kind == "Slider":
        return list(proto.default) == [widget.value]
    return proto.default == widget.value


@pytest.fixture
def opened(app_test):
    at = app_test(APP, default_timeout=60)
    at.query_params.update(LINK)
    return at.run()


def test_the_first_render_declares_the_link_value(opened):
    assert not opened.exception
    shown = widgets(opened)
    for key, expected in EXPECTED.items():
        value = shown[key].value  # what Streamlit itself resolved from the link (the reference)
        assert value == expected, key
        assert first_frame_matches(shown[key]), f"{key}: the first frame draws the page's default, not {value!r}"


def test_later_runs_keep_the_value_and_the_address(opened):
    opened.run()
    assert {k: w.value for k, w in widgets(opened).items() if k in EXPECTED} == EXPECTED
    for key, raw in LINK.items():  # the address still carries every link value (a reload opens the same)
        kept = opened.query_params.get(key)
        assert (kept if isinstance(kept, list) else [kept]) == (raw if isinstance(raw, list) else [raw]), key


def test_without_a_link_the_page_defaults_are_drawn(app_test):
    at = app_test(APP, default_timeout=60).run()
    shown = widgets(at)
    assert shown["epochs"].value == 4 and shown["names"].value == ["relu", "tanh"]
    assert shown["seed"].value == 3 and shown["opt"].value == "adam"
