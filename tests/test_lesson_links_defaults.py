"""Lesson links on pages that start their widgets from session state (Optimizers, Architecture) and the Gallery.

Streamlit keeps a link value out of a widget when it equals the widget's *declared* default, and drops a widget
value equal to it from the address. The Optimizers page starts its widgets from session state (epochs 2, batch 32,
SGD's learning rate...) while the widgets declare their minimum or first option, so a link could not set
epochs = 1, batch = 8 or any other value equal to the declared one. links.linked now declares the page's own
starting value (see link_values.default_argument).
"""
from __future__ import annotations

import pytest
import torch

from pages.common.links.values import default_argument
from tests.test_gallery_apptest import gallery, publish  # noqa: F401 (the fixture)

OPTIMIZERS = "pages/7_Optimizers.py"
# values equal to each widget's minimum / first option, all different from where the page starts
AT_THE_BOUNDS = {"cnn_epochs": "1", "cnn_batch": "8", "cnn_per_class": "0", "cnn_row0_lr": "1e-06",
                 "cnn_smoothing": "0", "cnn_target": "0.01"}


def open_page(app_test, page: str, params: dict[str, str]):
    at = app_test(page, default_timeout=120)
    at.query_params.update(params)
    return at.run()


def link_notes(at) -> list[str]:
    return [w.value for w in at.warning if "could not be used" in w.value]


def copy_link(at) -> str:
    """The Copy-link panel's address (the last code block; AppTest has no URL, so it is just '?query')."""
    return at.code[-1].value


def test_a_link_sets_values_equal_to_the_widgets_declared_default(app_test):
    fresh = open_page(app_test, OPTIMIZERS, {})
    starts = {key: fresh.session_state[key] for key in AT_THE_BOUNDS}
    assert starts == {"cnn_epochs": 2, "cnn_batch": 32, "cnn_per_class": 200, "cnn_row0_lr": 0.05,
                      "cnn_smoothing": 0.6, "cnn_target": 0.5}  # the page's own defaults (none at a bound)
    at = open_page(app_test, OPTIMIZERS, AT_THE_BOUNDS)
    assert not at.exception and not link_notes(at)
    values = {key: at.session_state[key] for key in AT_THE_BOUNDS}
    assert values == {"cnn_epochs": 1, "cnn_batch": 8, "cnn_per_class": 0, "cnn_row0_lr": 1e-6,
                      "cnn_smoothing": 0.0, "cnn_target": 0.01}
    assert dict(at.query_params) == AT_THE_BOUNDS  # the address keeps them (it is the link to this setup)


def test_the_copy_link_carries_a_value_equal_to_the_declared_default_and_leaves_the_pages_default_out(app_test):
    at = open_page(app_test, OPTIMIZERS, {})
    assert copy_link(at) == ""  # the page's defaults are not in the link
    at.number_input(key="cnn_epochs").set_value(1).run()
    assert copy_link(at) == "?cnn_epochs=1"
    again = open_page(app_test, OPTIMIZERS, {"cnn_epochs": "1"})
    assert again.number_input(key="cnn_epochs").value == 1
    at.number_input(key="cnn_epochs").set_value(2).run()
    assert copy_link(at) == ""


def test_a_link_that_picks_another_optimizer_gets_that_optimizers_own_defaults(app_test):
    at = open_page(app_test, OPTIMIZERS, {"cnn_row0_opt": "Adam"})
    assert not at.exception and not link_notes(at)
    assert at.selectbox(key="cnn_row0_opt").value == "adam"
    reference = torch.optim.Adam([torch.zeros(1, requires_grad=True)]).defaults["betas"]
    assert (at.number_input(key="cnn_row0_beta1").value, at.number_input(key="cnn_row0_beta2").value) == reference


def test_an_option_is_linked_by_its_label_and_its_internal_name_is_a_note(app_test):
    # Streamlit reads a selectbox from the address by the label it shows ("Adam"); "adam" it would drop silently
    at = open_page(app_test, OPTIMIZERS, {"cnn_row0_opt": "adam"})
    assert not at.exception
    [note] = link_notes(at)
    assert "`cnn_row0_opt` = `adam` is not one of the choices" in note
    assert at.selectbox(key="cnn_row0_opt").value == "sgd"


def test_architecture_input_size_at_its_minimum_opens_from_a_link(app_test):
    at = open_page(app_test, "pages/2_Architecture.py", {"arch_in_size": "4", "arch_in_channels": "3"})
    assert not at.exception and not link_notes(at)
    assert (at.number_input(key="arch_in_size").value, at.number_input(key="arch_in_channels").value) == (4, 3)
    assert at.session_state["arch_input_shape"] == (3, 4, 4)  # what the builder checks the network against
    assert at.error  # LeNet-5 cannot run on 4 x 4 pixels: the page says which layer fails, no traceback


def test_default_argument_declares_the_pages_starting_value():
    number = {"label": "lr", "min_value": 1e-6, "max_value": 100.0, "key": "lr"}
    assert default_argument("number_input", number, 1) == ("value", 1.0)  # float bounds: a float value
    assert default_argument("number_input", {"min_value": 1, "max_value": 50}, 2.0) == ("value", 2)
    assert default_argument("number_input", number, 1e-6) is None  # already the declared default
    assert default_argument("number_input", number, 500.0) is None  # past a bound: left to the widget
    assert default_argument("number_input", {**number, "value": 0.1}, 0.5) is None  # the widget declares its own
    assert default_argument("number_input", number, None) is None  # nothing set before the widget
    choices = {"options": ["sgd", "adam"]}
    assert default_argument("selectbox", choices, "adam") == ("index", 1)
    assert default_argument("selectbox", choices, "sgd") is None
    assert default_argument("selectbox", choices, "lion") is None
    assert default_argument("select_slider", {"options": [8, 16, 32]}, 32) == ("value", 32)
    assert default_argument("slider", {"min_value": 0.0, "max_value": 1.0}, (0.2, 0.4)) == ("value", (0.2, 0.4))
    assert default_argument("checkbox", {}, True) == ("value", True)
    assert default_argument("multiselect", {"options": "abc"}, ["b"]) == ("default", ["b"])


def test_gallery_hostile_link_is_a_note(app_test, gallery):  # noqa: F811 (the fixture)
    publish(gallery, "ann", 0.1, 0.62)
    at = open_page(app_test, "pages/12_Gallery.py", {"gal_exercise": "<script>", "gal_sort": "1e400", "zz": "x"})
    assert not at.exception and not at.error
    [note] = link_notes(at)
    assert "`gal_exercise` = `<script>` is not one of the choices" in note
    assert "`gal_sort` = `1e400` is not one of the choices" in note and "`zz` is not a setting" in note
    assert at.selectbox(key="gal_exercise").value == "optimizers"


@pytest.mark.parametrize("page", ["pages/10_Detection.py", "pages/11_Segmentation.py", "pages/2_Architecture.py"])
def test_every_wired_page_has_the_copy_link_button(app_test, page):
    at = open_page(app_test, page, {})
    assert not at.exception
    assert any("Copy link to this setup" in p.proto.popover.label for p in at.sidebar.get("popover"))
