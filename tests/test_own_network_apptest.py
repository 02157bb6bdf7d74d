"""Layer Visualization: draw a digit, receptive fields, feature visualization, for every model incl. your own."""
from __future__ import annotations

import pytest

from pages.common.session_keys import SESSION_CHECKPOINTS
from tests.test_layer_viz_apptest import lenet_digit_checkpoint

PAGE = "pages/4_Layer_Visualization.py"
pytestmark = pytest.mark.timeout(600)


def problems(at) -> list[str]:
    return [e.value for e in at.error] + [str(e.value) for e in at.exception]


def captions(at) -> list[str]:
    return [c for image in at.get("image") for c in image.captions]


def test_empty_canvas_asks_for_a_digit(app_test):
    at = app_test(PAGE, default_timeout=300)
    at.session_state["lv_model"] = "lenet5-mnist"
    at.run()
    at.radio(key="lv_source").set_value("Draw a digit").run()
    assert problems(at) == []
    assert any("Draw a digit on the canvas" in i.value for i in at.info)
    assert not at.metric  # no prediction for an empty canvas
    assert at.slider(key="lv_canvas_stroke").value == 22
    at.button(key="lv_canvas_clear").click().run()  # a fresh, empty canvas
    assert at.session_state["lv_canvas_round"] == 1 and problems(at) == []
    assert any("Draw a digit on the canvas" in i.value for i in at.info)


@pytest.mark.slow
def test_receptive_field_and_feature_vis_for_lenet_and_own_network(app_test):
    at = app_test(PAGE, default_timeout=300)
    at.session_state[SESSION_CHECKPOINTS] = {"my run": lenet_digit_checkpoint()}
    at.session_state["lv_model"] = "lenet5-mnist"
    at.run()
    assert problems(at) == []
    for model in ("lenet5-mnist", "session:my run"):
        at.selectbox(key="lv_model").set_value(model).run()
        assert problems(at) == [], model
        texts = captions(at)
        assert any(t.startswith("trained: features.3 unit") for t in texts), texts
        assert any(t.startswith("untrained (same layers") for t in texts)
        assert any("channels 0-8 of 16: the optimized input" in t for t in texts)  # the 3 x 3 grid
        sides = [m.value for m in at.markdown if m.value.startswith("90 % of the gradient")]
        assert len(sides) == 2 and all("(theoretical field 14 x 14 px)" in v for v in sides), sides
        assert all(int(v.split("**")[1].split()[0]) <= 14 for v in sides)  # inside the 14 x 14 field
    # another unit and another seed: still no error
    at.selectbox(key="lv_model").set_value("lenet5-mnist").run()
    at.number_input(key="erf_ch_lenet5-mnist_features.3").set_value(5)
    at.number_input(key="fv_seed").set_value(3).run()
    assert problems(at) == []


def test_the_mlp_is_offered_and_told_it_has_no_conv_layers(app_test):
    at = app_test(PAGE, default_timeout=300)
    at.session_state["lv_model"] = "mlp-mnist"
    at.run()
    assert problems(at) == []
    assert any("MLP" in c.value for c in at.caption)
    infos = [i.value for i in at.info]
    assert any("feature visualization needs one" in i for i in infos), infos
    assert any("receptive fields" in i for i in infos)


def test_the_model_is_picked_once_per_session(app_test):
    at = app_test("playground.py", default_timeout=300).run()
    at.switch_page(PAGE).run()
    at.selectbox(key="lv_model").set_value("mlp-mnist").run()
    assert "lv_model" in at.session_state
    at.switch_page("pages/3_Basic_Layers.py").run()
    # an unbound widget is forgotten while another page runs (remember() restores it); a lesson-linked one is
    # kept by Streamlit itself: either way the page comes back with the choice
    at.switch_page(PAGE).run()
    assert at.selectbox(key="lv_model").value == "mlp-mnist"
