"""AppTest of the From ANNs to CNNs, Architecture and Basic Layers pages: the builder and the conv explorer."""
from __future__ import annotations

import io
import json
from dataclasses import replace

import pytest
import streamlit as st
from PIL import Image

from cnn_core.inspect import codegen
from cnn_core.models import LAYER_DEFAULTS, LENET5_SPECS, build_from_specs, build_model, specs_to_json
from cnn_core.training import pretrained, zoo
from pages.common.session_keys import CUSTOM_ARCHITECTURE

pytestmark = pytest.mark.timeout(300)

ARCH, LAYERS, ANN = "pages/2_Architecture.py", "pages/3_Basic_Layers.py", "pages/1_From_ANNs_to_CNNs.py"


def formula_texts(at) -> list[str]:
    """The formulas a page drew (pages.common.formulas: inline KaTeX in markdown, so they wrap on a phone)."""
    return [m.value for m in at.markdown if m.value.startswith("$\\displaystyle")]


@pytest.fixture
def tiny_pretrained(tmp_path, monkeypatch):
    """The pages' trained MLP / LeNet-5, but on 30 digits per class for 1 epoch, cached under tmp_path."""
    monkeypatch.setenv("CNN_PLAYGROUND_CACHE", str(tmp_path / "models"))
    monkeypatch.setattr(pretrained, "MLP_MNIST", replace(pretrained.MLP_MNIST, per_class=30, epochs=1))
    monkeypatch.setattr(pretrained, "LENET5_MNIST", replace(pretrained.LENET5_MNIST, per_class=30, epochs=1))
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def python_code(at) -> list[str]:
    """The page's PyTorch code blocks (not the Copy-link panel's address)."""
    return [c.value for c in at.code if c.language == "python"]


def open_page(app_test, page: str):
    at = app_test("playground.py", default_timeout=120).run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def full(specs) -> list[dict]:
    """Specs with every default spelled out: the builder stores all parameters explicitly."""
    return [{"kind": s.kind, **{name: s.get(name) for name in LAYER_DEFAULTS[s.kind]}} for s in specs]


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def errors(at) -> str:
    return " | ".join(e.value for e in at.error)


def image_captions(at) -> str:
    return " | ".join(img.caption for element in at.get("image") for img in element.proto.imgs)


def png_bytes(width: int = 64, height: int = 40) -> bytes:
    image = Image.new("RGB", (width, height))
    image.putdata([(x * 4 % 256, y * 6 % 256, 128) for y in range(height) for x in range(width)])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# ---------------------------------------------------------------- Architecture: the builder


def test_builder_add_a_layer_break_it_see_why_fix_it(app_test):
    at = open_page(app_test, ARCH)
    assert not at.error and metric(at, "Parameters") == "61,706"
    specs, shape = at.session_state[CUSTOM_ARCHITECTURE]
    assert full(specs) == full(LENET5_SPECS) and shape == (1, 28, 28)
    assert "6 × 28 × 28" in at.get("graphviz_chart")[0].proto.spec

    # add a 3x3 conv between S2 and C3: 14 -> 12 shrinks S4 to 4x4, so C5's 5x5 kernel no longer fits
    at.selectbox(key="arch_add_kind").set_value("conv")
    at.selectbox(key="arch_add_pos").set_value(3)
    at.button(key="arch_add").click().run()
    layers = at.session_state["arch_layers"]
    assert len(layers) == 13 and layers[3]["kind"] == "conv"
    uid = layers[3]["uid"]
    assert "Layer 8 (conv): the kernel spans 5x5 pixels" in errors(at) and "padded input is only 4x4" in errors(at)
    assert any("wrong here" in b.label or "wrong here" in m.value for b in at.button for m in at.markdown)

    # fix it: padding 1 keeps 14 x 14
    at.number_input(key=f"arch_{uid}_padding").set_value(1).run()
    assert not at.error and not at.exception
    specs, shape = at.session_state[CUSTOM_ARCHITECTURE]
    assert len(specs) == 13 and shape == (1, 28, 28)
    expected = sum(p.numel() for p in build_from_specs(specs, shape).parameters())
    assert expected == 61_706 + (8 * 6 * 9 + 8) + (16 * 8 * 25 - 16 * 6 * 25)  # new conv + wider C3
    assert metric(at, "Parameters") == f"{expected:,}"

    # break it on purpose: a 20x20 kernel on a padded 16x16 map
    at.number_input(key=f"arch_{uid}_kernel_size").set_value(20).run()
    assert "Layer 4 (conv): the kernel spans 20x20 pixels" in errors(at) and not at.exception
    assert metric(at, "Parameters") == "156"  # the rest of the page shows the three layers before it
    assert at.session_state[CUSTOM_ARCHITECTURE][0] == specs  # the Train page keeps the last valid design
    at.number_input(key=f"arch_{uid}_kernel_size").set_value(3).run()
    assert not at.error and metric(at, "Parameters") == f"{expected:,}"

    # move it up (before the pooling layer), then remove it
    at.button(key=f"arch_up_{uid}").click().run()
    assert at.session_state["arch_layers"][2]["uid"] == uid and not at.error
    at.button(key=f"arch_remove_{uid}").click().run()
    assert len(at.session_state["arch_layers"]) == 12 and metric(at, "Parameters") == "61,706"


def test_builder_code_runs_and_matches_the_table(app_test):
    at = open_page(app_test, ARCH)
    codes = python_code(at)
    assert len(codes) == 2 and "class Net(nn.Module)" in codes[0] and "nn.Sequential(" in codes[1]
    for code in codes:
        assert sum(p.numel() for p in codegen.build_generated(code).parameters()) == 61_706
    assert sum("the same as the network above" in c.value for c in at.caption) == 2
    table = at.dataframe[0].value
    assert list(table["params"]) == [156, 0, 0, 2416, 0, 0, 48120, 0, 0, 10164, 0, 850]
    assert list(table["receptive_field"])[:7] == [5, 5, 6, 14, 14, 16, 32]


def test_registry_model_and_copy_into_the_builder(app_test):
    at = open_page(app_test, ARCH)
    at.number_input(key="arch_in_size").set_value(32).run()
    at.radio(key="arch_source").set_value("📚 Registry model").run()
    at.radio(key="arch_source").set_value("🧱 Build your own").run()
    assert at.number_input(key="arch_in_size").value == 32  # the builder's input survives the visit
    at.radio(key="arch_source").set_value("📚 Registry model").run()
    at.selectbox(key="arch_registry").set_value("convnet-lecture").run()
    assert not at.exception and metric(at, "Parameters") == "24,508"
    assert sum(p.numel() for p in build_model("convnet-lecture").parameters()) == 24_508
    assert "self.fc = nn.Linear(16 * 5 * 5, 60)" in python_code(at)[1]
    at.selectbox(key="arch_registry").set_value("plain-cnn").run()
    assert not at.exception and "No generated code" in at.info[0].value and not python_code(at)
    at.selectbox(key="arch_registry").set_value("lenet5-classic").run()
    at.selectbox(key="arch_registry_input").set_value("1 x 32 x 32 (LeCun's LeNet input)").run()
    assert metric(at, "Parameters") == "61,706" and "1 × 32 × 32" in at.get("graphviz_chart")[0].proto.spec
    at.button(key="arch_copy").click().run()
    assert at.radio(key="arch_source").value == "🧱 Build your own" and not at.exception
    assert [layer["kind"] for layer in at.session_state["arch_layers"]][:3] == ["conv", "activation", "avgpool"]
    assert at.number_input(key="arch_in_size").value == 32 and metric(at, "Parameters") == "61,706"


def test_json_save_and_load_with_a_clear_message_for_bad_json(app_test):
    at = open_page(app_test, ARCH)
    at.text_area(key="arch_json_text").set_value('{"input_shape": [1, 28, 28], "layers": [').run()
    at.button(key="arch_json_load").click().run()
    assert "Could not load this design: Not valid JSON" in errors(at)
    assert len(at.session_state["arch_layers"]) == 12  # the current design is untouched
    at.text_area(key="arch_json_text").set_value('{"layers": [{"kind": "conv", "kernel": 3}]}').run()
    at.button(key="arch_json_load").click().run()
    assert "has no parameter(s) kernel" in errors(at)

    lecture = codegen.specs_from_model(build_model("convnet-lecture"), (3, 12, 12))
    at.file_uploader(key="arch_json_file").set_value(
        ("design.json", specs_to_json(lecture, (3, 12, 12)).encode(), "application/json")).run()
    assert not at.error and not at.exception
    specs, shape = at.session_state[CUSTOM_ARCHITECTURE]
    assert full(specs) == full(lecture) and shape == (3, 12, 12)
    assert at.number_input(key="arch_in_channels").value == 3 and metric(at, "Parameters") == "24,508"


# ---------------------------------------------------------------- Basic Layers: the convolution explorer


def test_convolution_explorer_steps_through_the_dot_product(app_test, tiny_pretrained):
    at = open_page(app_test, LAYERS)
    assert not at.error and [t.label for t in at.tabs] == ["Convolution", "Activation", "Pooling",
                                                           "Fully-connected", "Input"]
    assert "equal to the output map's value" in at.success[0].value
    at.radio(key="conv_source").set_value("MNIST digit").run()
    at.number_input(key="conv_stride").set_value(2)
    at.number_input(key="conv_padding").set_value(1)
    at.number_input(key="conv_dilation").set_value(2).run()
    formulas = " ".join(formula_texts(at))
    assert "\\frac{28 + 2\\cdot1 - 2\\cdot(3-1) - 1}{2}" in formulas and "+ 1 = 13" in formulas
    assert "Output feature map 13 x 13" in image_captions(at)
    at.slider(key="conv_row").set_value(0)
    at.slider(key="conv_col").set_value(12).run()
    assert "equal to the output map's value at (0, 12)" in at.success[0].value
    at.selectbox(key="conv_kernel").set_value("blur-5x5").run()
    assert "+ 1 = 11" in " ".join(formula_texts(at))  # floor((28 + 2 - 2*4 - 1) / 2) + 1 = 11
    assert "× " in at.code[0].value and at.code[0].value.count("×") == 25
    assert not at.exception and not at.error


def test_convolution_explorer_upload_good_and_bad_images(app_test, tiny_pretrained):
    at = open_page(app_test, LAYERS)
    at.radio(key="conv_source").set_value("Upload your own").run()
    assert "Upload an image" in at.info[0].value
    at.file_uploader(key="conv_upload").set_value(("gradient.png", png_bytes(), "image/png")).run()
    assert not at.error and not at.exception
    captions = image_captions(at)
    assert "Input 40 x 64" in captions and "Output feature map 38 x 62" in captions
    at.file_uploader(key="conv_upload").set_value(("fake.png", b"this is text, not a PNG", "image/png")).run()
    assert "fake.png is not an image" in errors(at) and not at.exception


def test_pooling_and_other_tabs(app_test, tiny_pretrained):
    at = open_page(app_test, LAYERS)
    assert any("= 400" in f for f in formula_texts(at))  # the lecture's 16 * 5 * 5
    at.number_input(key="pool_padding").set_value(2).run()
    assert "more than half the kernel size" in errors(at) and not at.exception
    at.number_input(key="pool_kernel").set_value(4)
    at.checkbox(key="pool_ceil").check().run()
    assert not at.error
    at.slider(key="dead_shift").set_value(-5.0).run()
    assert not at.exception and not at.error
    at.slider(key="fc_size").set_value(16).run()
    assert any("= 784" in f for f in formula_texts(at))  # 16 -> conv 14 -> pool 7: 16 * 7 * 7


def test_from_anns_to_cnns_page(app_test, tiny_pretrained):
    at = open_page(app_test, ANN)
    assert not at.error
    charts = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    assert len(charts) == 2
    assert metric(at, "MLP at 2 px").endswith("%") and metric(at, "LeNet-5 at 2 px").endswith("%")
    assert "805,306,624" in " ".join(m.value for m in at.markdown)  # nn.Linear(3*1024*1024, 256)
    for config in (pretrained.MLP_MNIST, pretrained.LENET5_MNIST):
        assert pretrained.cached_path(config).exists()  # trained once, on disk
    at.selectbox(key="shift_direction").set_value("diagonal")
    at.radio(key="shift_mode").set_value("roll").run()
    assert not at.exception and not at.error


# ---------------------------------------------------------------- Architecture: the layer-kind registry on the page


def test_automatic_fields_show_auto_and_a_broken_layer_says_how_to_fix_it(app_test):
    at = open_page(app_test, ARCH)
    layers = at.session_state["arch_layers"]
    c1 = at.number_input(key=f"arch_{layers[0]['uid']}_in_channels")  # the first layer's editor is open
    assert c1.value is None and c1.proto.placeholder == "auto"
    at.button(key=f"arch_edit_{layers[2]['uid']}").click().run()  # S2: max pooling
    stride = at.number_input(key=f"arch_{layers[2]['uid']}_stride")
    assert stride.value is None and stride.proto.placeholder == "= kernel_size"
    c5 = layers[6]["uid"]  # C5: a 5x5 kernel on S4's 5x5 maps
    at.button(key=f"arch_edit_{c5}").click().run()
    at.number_input(key=f"arch_{c5}_kernel_size").set_value(7).run()
    assert "Layer 7 (conv): the kernel spans 7x7 pixels" in errors(at)
    assert "lower kernel_size to <= 5 or set padding to 1" in errors(at)
    at.number_input(key=f"arch_{c5}_padding").set_value(1).run()  # the fix the message names
    assert not at.error and not at.exception
    assert at.session_state[CUSTOM_ARCHITECTURE][0][6].get("padding") == 1


def test_transposed_convolution_and_upsampling_in_the_builder(app_test):
    at = open_page(app_test, ARCH)
    design = {"input_shape": [1, 12, 12], "layers": [
        {"kind": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1}, {"kind": "maxpool"},
        {"kind": "convtranspose", "out_channels": 2, "kernel_size": 2, "stride": 2},
        {"kind": "upsample", "scale_factor": 2, "mode": "bilinear"}, {"kind": "flatten"},
        {"kind": "linear", "out_features": 3}]}
    at.text_area(key="arch_json_text").set_value(json.dumps(design)).run()
    at.button(key="arch_json_load").click().run()
    assert not at.error and not at.exception
    specs, shape = at.session_state[CUSTOM_ARCHITECTURE]
    reference = build_from_specs(specs, shape)
    assert metric(at, "Parameters") == f"{sum(p.numel() for p in reference.parameters()):,}"
    table = at.dataframe[0].value
    assert list(table["type"])[2:4] == ["ConvTranspose2d", "Upsample"]
    assert list(table["output_shape"])[1:4] == ["4x6x6", "2x12x12", "2x24x24"]
    assert "nn.ConvTranspose2d(4, 2, kernel_size=2, stride=2)" in python_code(at)[0]
    assert "nn.Upsample(scale_factor=2, mode='bilinear')" in python_code(at)[1]
    assert sum("the same as the network above" in c.value for c in at.caption) == 2
    at.selectbox(key="arch_add_kind").set_value("upsample")
    at.selectbox(key="arch_add_pos").set_value(6)  # after the Linear layer: no maps to upsample
    at.button(key="arch_add").click().run()
    assert "Layer 7 (upsample): needs C x H x W feature maps" in errors(at) and "before the Flatten" in errors(at)


def test_lenet_registry_models_show_the_1998_differences(app_test):
    at = open_page(app_test, ARCH)
    at.radio(key="arch_source").set_value("📚 Registry model").run()
    assert not at.exception
    rows = at.dataframe[0].value
    assert "C3" in list(rows["layer"]) and "Table I" in " ".join(rows["lenet5_1998"])


@pytest.mark.slow
def test_pretrained_networks_are_summarized_with_the_same_table(app_test):
    at = open_page(app_test, ARCH)
    at.radio(key="arch_source").set_value("🖼️ Pretrained (ImageNet)").run()
    assert not at.exception and not at.error
    assert at.selectbox(key="arch_pretrained").value == "efficientnet-lite0"
    model = zoo.load_efficientnet_lite0().model
    assert metric(at, "Parameters") == f"{sum(p.numel() for p in model.parameters()):,}" == "4,652,008"
    table = at.dataframe[0].value
    assert len(table) > 100 and "Conv2dStaticSamePadding" in set(table["type"])
    assert int(table["params"].sum()) == 4_652_008 and metric(at, "Output shape") == "1000"
