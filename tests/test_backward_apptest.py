"""Basic Layers shows the backward pass next to the forward step-through, and autograd agrees on the page."""
import pytest


def _successes(at):
    return [s.value for s in at.success]


@pytest.mark.slow
def test_backward_pass_on_the_basic_layers_page(app_test):
    at = app_test("pages/3_Basic_Layers.py", default_timeout=90).run()
    assert not at.exception, at.exception
    assert any("Every number equals what torch.autograd computes" in s for s in _successes(at))
    # stride, padding and dilation together: still equal to autograd, never an error
    at.number_input(key="conv_stride").set_value(2)
    at.number_input(key="conv_padding").set_value(3)
    at.number_input(key="conv_dilation").set_value(2)
    at.radio(key="bwd_kind").set_value("ones").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    agreements = [s for s in _successes(at) if "torch.autograd" in s]
    assert len(agreements) == 2 and all("DISAGREES" not in s for s in agreements)  # convolution + pooling
    code = [c.value for c in at.code if c.value.startswith("dL/dW[0,0]")]
    assert code and "=" in code[0]
    # pooling with overlapping windows (stride 1) and ceil_mode
    at.number_input(key="pool_kernel").set_value(3)
    at.number_input(key="pool_stride").set_value(1)
    at.number_input(key="pool_padding").set_value(1)
    at.checkbox(key="pool_ceil").check().run()
    assert not at.exception and not at.error
    assert sum("torch.autograd" in s for s in _successes(at)) == 2
