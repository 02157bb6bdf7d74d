"""Every exercise's lesson link opens its page with the link's values in the widgets (AppTest, no browser)."""
from __future__ import annotations

import math

import pytest

from cnn_core.lessons import EXERCISES, exercise

LINKED = [e.id for e in EXERCISES if e.variant(0).link]


def shown(widget):
    """What a widget shows, in the address's spelling (labels for options, numbers as floats)."""
    kind = type(widget).__name__
    if kind in ("Selectbox", "Radio"):
        return widget.options[widget.index]
    if kind == "Multiselect":
        return [widget.options[i] for i in widget.indices]
    if kind == "Checkbox":
        return str(widget.value).lower()
    value = widget.value
    return [float(v) for v in value] if isinstance(value, (list, tuple)) else float(value)


def expected(widget, value):
    """The link's value in the same spelling as `shown`."""
    if type(widget).__name__ in ("Selectbox", "Radio", "Multiselect", "Checkbox"):
        return value
    if type(widget).__name__ == "SelectSlider" and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return [float(v) for v in value] if isinstance(value, list) else float(value)


@pytest.mark.slow
@pytest.mark.parametrize("exercise_id", LINKED)
def test_the_lesson_link_sets_the_pages_widgets(app_test, exercise_id):
    v = exercise(exercise_id).variant(0)
    at = app_test(f"pages/{v.page}", default_timeout=120)
    at.query_params.update(v.link)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    notes = [w.value for w in at.warning if "link" in w.value]
    assert not notes, notes  # every value was accepted by its widget
    widgets = {w.key: w for kind in ("slider", "number_input", "selectbox", "radio", "multiselect", "checkbox",
                                     "select_slider") for w in at.get(kind)}
    for key, value in v.link.items():
        assert key in widgets, key
        got, want = shown(widgets[key]), expected(widgets[key], value)
        if isinstance(want, float):
            assert math.isclose(float(got), want, rel_tol=1e-9), (key, got, want)
        else:
            assert got == want, (key, got, want)
