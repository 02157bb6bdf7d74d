"""Lesson links (pages/common/links/__init__.py) through AppTest: values from the address, hostile links, lock / hide."""
from __future__ import annotations

import json

import pytest

from pages.common.links import check_value, to_param

DEMO = "tests/apps/links_demo.py"


def open_link(app_test, params: dict[str, str]):
    at = app_test(DEMO, default_timeout=30)
    at.query_params.update(params)
    return at.run()


def shown(at) -> dict:
    return json.loads(at.json[0].value)


def test_a_link_sets_every_linked_widget_and_the_link_rebuilds_it(app_test):
    at = open_link(app_test, {"lr": "0.2", "ep": "7", "opt": "SGD", "bn": "true"})
    assert not at.exception and not at.warning
    values = shown(at)
    assert (values["lr"], values["ep"], values["opt"], values["bn"]) == (0.2, 7, "sgd", True)
    assert values["query"] == "lr=0.2&ep=7&opt=SGD&bn=true"
    # the link in the Copy-link panel opens the same setup again
    again = open_link(app_test, dict(pair.split("=") for pair in values["query"].split("&")))
    assert shown(again) == values


def test_defaults_stay_out_of_the_link(app_test):
    at = open_link(app_test, {})
    assert shown(at)["query"] == ""
    at.number_input(key="ep").set_value(12).run()
    assert shown(at)["query"] == "ep=12"
    assert "ep=12" in at.code[0].value  # the Copy-link panel's code block


@pytest.mark.parametrize("params, expected_note", [
    ({"lr": "5"}, "`lr` = `5` is outside 0 to 1"),
    ({"lr": "-1e308"}, "is outside 0 to 1"),
    ({"lr": "nan"}, "not a finite number"),
    ({"lr": "inf"}, "not a finite number"),
    ({"lr": "abc"}, "not a number"),
    ({"ep": "1e400"}, "not a finite number"),  # Streamlit 1.67 alone raises OverflowError here
    ({"ep": "3.5"}, "not a whole number"),
    ({"ep": "31"}, "outside 1 to 30"),
    ({"opt": "rmsprop"}, "not one of the choices"),
    ({"opt": "<script>alert(1)</script>"}, "not one of the choices"),
    ({"bn": "maybe"}, "not true or false"),
    ({"lr": "0." + "1" * 5000}, "is too long"),
    ({"zz`![x](http://e.x/a.png)": "1"}, "is not a setting of this page"),
])
def test_hostile_links_give_a_note_and_the_default(app_test, params, expected_note):
    at = open_link(app_test, params)
    assert not at.exception
    notes = " ".join(w.value for w in at.warning)
    assert expected_note in notes
    if "zz" in str(params):  # the key's backtick is replaced, so the text stays inside its code span (literal)
        assert "`zz?![x](http://e.x/a.png)`" in notes
    values = shown(at)
    assert (values["lr"], values["ep"], values["opt"], values["bn"]) == (0.5, 5, "adam", False)
    assert values["query"] == ""
    at.run()  # the next rerun is quiet: the bad value is gone from the address
    assert not at.exception and not at.warning


def test_good_values_survive_next_to_bad_ones(app_test):
    at = open_link(app_test, {"lr": "0.75", "ep": "999", "opt": "SGD"})
    values = shown(at)
    assert (values["lr"], values["ep"], values["opt"]) == (0.75, 5, "sgd")
    assert len(at.warning) == 1 and "`ep` = `999`" in at.warning[0].value


def test_lock_disables_and_hide_keeps_the_value_without_showing_it(app_test):
    at = open_link(app_test, {"lr": "0.3", "bn": "true", "lock": "lr,ep", "hide": "bn,../etc"})
    assert not at.exception and not at.warning
    assert at.slider(key="lr").disabled and at.number_input(key="ep").disabled
    assert not at.selectbox(key="opt").disabled
    values = shown(at)
    assert values["lr"] == 0.3 and values["bn"] is True  # hidden, but the link's value is used
    hide_css = [h for h in at.get("html") if "lnkhide-" in h.proto.body]
    assert hide_css  # the hidden widget sits in a container that this style rule hides
    assert "lock=ep%2Clr" in at.code[0].value and "hide=bn" in at.code[0].value


def test_check_value_and_to_param_units():
    slider = {"label": "x", "min_value": 1, "max_value": 10, "value": (2, 5)}
    assert check_value("slider", ["3", "4"], slider) == ""
    assert check_value("slider", "3", slider) == "has the wrong number of values"
    assert check_value("number_input", "1e20", {"value": 1.0}) == "is outside -1e+15 to 1e+15"
    assert check_value("multiselect", ["a", "b", "c"], {"options": "abc", "max_selections": 2}) == "selects more than 2"
    assert check_value("text_input", "x" * 11, {"max_chars": 10}) == "is too long"
    assert check_value("file_uploader", "x", {}) == "cannot be set from a link"
    assert to_param("slider", (2.0, 5.5), slider) == ["2", "5.5"]
    assert to_param("checkbox", True, {}) == "true"
    assert to_param("selectbox", "sgd", {"format_func": str.upper}) == "SGD"


def test_hidden_selectbox_through_a_bound_module_keeps_the_links_value(app_test):
    at = open_link(app_test, {"opt": "SGD", "hide": "opt"})
    assert not at.exception and not at.warning
    assert shown(at)["opt"] == "sgd"
    assert at.selectbox(key="opt").value == "sgd"  # drawn in the hidden container
