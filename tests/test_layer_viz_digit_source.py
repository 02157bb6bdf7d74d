"""Layer Visualization: a digit source starts on a digit network, unless the student chose the network."""
from __future__ import annotations

import pytest

from cnn_core.training.zoo import load_vision_model

PAGE = "pages/4_Layer_Visualization.py"
pytestmark = pytest.mark.timeout(600)


def network(at) -> str:
    return at.selectbox(key="lv_model").value


def digit_network(key: str) -> bool:
    """A network of handwritten digits (its own input specification says so)."""
    return load_vision_model(key).input.style == "digit"


def test_choosing_a_digit_source_moves_an_imagenet_start_to_lenet(app_test):
    at = app_test(PAGE, default_timeout=300).run()
    assert not digit_network(network(at))  # the page starts on a photo network with a sample photo
    at.radio(key="lv_source").set_value("Test digit").run()
    assert not at.exception
    assert digit_network(network(at)), network(at)
    assert at.metric[0].value in "0123456789"  # the answer is a digit, not an ImageNet class
    at.radio(key="lv_source").set_value("Sample photo").run()
    assert not digit_network(network(at))  # and back to the photo network for a photo


def test_a_network_the_student_chose_is_kept(app_test):
    at = app_test(PAGE, default_timeout=300).run()
    photo_network = network(at)
    at.selectbox(key="lv_model").set_value("lenet5-mnist").run()  # the student picks in the Network box...
    at.selectbox(key="lv_model").set_value(photo_network).run()  # ...and comes back to the photo network
    at.radio(key="lv_source").set_value("Test digit").run()
    assert not at.exception
    assert network(at) == photo_network


def test_a_link_to_the_drawing_canvas_opens_on_the_digit_network(app_test):
    at = app_test(PAGE, default_timeout=300)
    at.query_params["lv_source"] = "Draw a digit"
    at.run()
    assert not at.exception
    assert digit_network(network(at)), network(at)
