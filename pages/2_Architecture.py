"""CNN architecture: LeNet-5 and friends from the registry, or your own network built layer by layer."""
from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from cnn_core.inspect import codegen
from cnn_core.errors import ArchitectureError
from cnn_core.models import LENET5_SPECS, MODELS, ModelOptions, build_model, specs_to_json
from pages.common import builder_ui as ui
from pages.common.errors import friendly_errors
from pages.common.session_keys import CUSTOM_ARCHITECTURE

st.set_page_config(page_title="Architecture", page_icon="🏗️", layout="wide")
st.title("🏗️ CNN architecture")
st.markdown(
    "A CNN is a stack of **convolution → activation → pooling** blocks that turn the image into ever smaller, "
    "deeper feature maps, followed by **fully-connected** layers that classify. LeNet-5 (LeCun, 1998) is the "
    "lecture's example: C1 → S2 → C3 → S4 → C5 → F6 → output. Pick a model from the registry or build your "
    "own below; the table, the diagram and the PyTorch code (both styles of the lecture) follow every change."
)

REGISTRY = [name for name in ("lenet5-modern", "lenet5-classic", "convnet-lecture", "convnet-lecture-seq", "mlp",
                              "deep-mlp", "plain-cnn") if name in MODELS]
INPUTS = {"1 x 28 x 28 (MNIST)": (1, 28, 28), "1 x 32 x 32 (LeCun's LeNet input)": (1, 32, 32),
          "3 x 32 x 32 (CIFAR-10)": (3, 32, 32)}

source = st.radio("Network", [ui.BUILD, "📚 Registry model"], key=ui.SOURCE, horizontal=True)
layers = ui.init_builder(LENET5_SPECS, (1, 28, 28))
specs, model_for_code = None, None

if source == "📚 Registry model":
    c1, c2 = st.columns([1.3, 1])
    name = c1.selectbox("Model", REGISTRY, key="arch_registry", format_func=lambda n: MODELS[n].label)
    c1.caption(MODELS[name].explanation)
    fixed = MODELS[name].fixed_input
    if fixed is None:
        input_shape = INPUTS[c2.selectbox("Input", list(INPUTS), key="arch_registry_input")]
    else:
        input_shape = fixed
        c2.markdown(f"Input: **{' x '.join(map(str, fixed))}** (the lecture's example is drawn for this size)")
    report = None
    with friendly_errors("Building the model"):
        model = build_model(name, ModelOptions(in_channels=input_shape[0], image_size=input_shape[1]))
        report = codegen.ArchitectureReport((), input_shape, model, codegen.layer_summary(model, input_shape))
        report.totals = codegen.summary_totals(report.summary, model)
        try:
            specs = codegen.specs_from_model(model, input_shape)
        except ArchitectureError as exc:
            c2.info(f"No generated code for this model: {exc}.")
        if specs is not None:
            c2.button("Edit a copy in the builder", key="arch_copy", on_click=ui.copy_to_builder,
                      args=(specs, input_shape))
else:
    st.markdown("Start from LeNet-5 (as below) or load a design. Click a layer to edit its parameters, move it "
                "or remove it; add layers under the list. A layer that cannot work is marked, with the reason.")
    i1, i2, i3 = st.columns([1, 1, 2])
    channels = i1.number_input("Input channels", 1, ui.MAX_CHANNELS, key=ui.IN_CHANNELS, help="1 = grayscale, 3 = RGB")
    size = i2.number_input("Input size (H = W)", ui.MIN_SIZE, ui.MAX_SIZE, key=ui.IN_SIZE,
                           help="Square images, in pixels")
    i3.caption("LeNet-5 was designed for 32 x 32 digits; with 28 x 28 MNIST digits its first convolution pads "
               "by 2 so that C1 is still 6 x 28 x 28.")
    input_shape = (int(channels), int(size), int(size))
    st.session_state[ui.INPUT_SHAPE] = input_shape
    specs = ui.layers_to_specs(layers)
    report = codegen.check_architecture(specs, input_shape)
    left, right = st.columns([1.25, 1], gap="large")
    with left:
        if not layers:
            st.info("No layers yet: add one below.")
        ui.layer_list(layers, report)
        ui.add_layer_form(layers)
    with right, st.container(border=True):
        ui.layer_editor(layers)
    with st.expander("💾 Save or load this design as JSON"):
        s1, s2 = st.columns(2)
        s1.download_button("Download architecture.json", specs_to_json(specs, input_shape),
                           file_name="architecture.json", mime="application/json", key="arch_download")
        s1.file_uploader("Load a .json file", type=["json"], key="arch_json_file", on_change=ui.load_json,
                         args=("arch_json_file",))
        s2.text_area("...or paste JSON", key="arch_json_text", height=140,
                     placeholder='{"input_shape": [1, 28, 28], "layers": [{"kind": "conv", ...}]}')
        s2.button("Load pasted JSON", key="arch_json_load", on_click=ui.load_json, args=("arch_json_text",))
        if st.session_state.get(ui.LOAD_ERROR):
            st.error(st.session_state[ui.LOAD_ERROR])

if report is not None:
    if report.error is not None:
        st.error(f"✗ {report.error}")
        if report.model is not None:
            st.caption("The numbers, diagram and code below show the layers before the wrong one.")
    elif source == ui.BUILD:
        st.session_state[CUSTOM_ARCHITECTURE] = (specs, input_shape)
        c1, c2 = st.columns([3, 1], vertical_alignment="center")
        c1.success("This network is stored for this session: the Train page can train it.")
        if (Path(__file__).parent / "8_Train.py").exists():
            try:
                c2.page_link("pages/8_Train.py", label="Train it", icon="🏋️")
            except StreamlitPageNotFoundError:  # this page runs on its own (not under playground.py)
                c2.caption("Open **Train** in the sidebar.")
    if report.model is not None:
        totals, summary = report.totals, report.summary
        m = st.columns(4)
        m[0].metric("Parameters", f"{totals['params']:,}", help="Counted on the PyTorch model itself")
        m[1].metric("Multiply-adds / image", f"{totals['mult_adds']:,}", help="Conv: out values x in_channels/groups"
                    " x k x k; Linear: in x out")
        m[2].metric("Activation memory / image", f"{totals['activation_mb'] * 1024:,.1f} KB",
                    help="All layer outputs of one image as float32 (what training keeps for backprop)")
        m[3].metric("Output shape", summary["output_shape"].iloc[-1].replace("x", " x "))
        diagram, numbers = st.columns([1, 2.3], gap="medium")
        diagram.graphviz_chart(codegen.architecture_dot(report.model, input_shape, report.error, report.specs),
                               width="stretch")
        table = summary.drop(columns=["trainable"] + (["layer"] if source == ui.BUILD else []))
        table.insert(0, "#", range(1, len(table) + 1))
        numbers.dataframe(table, hide_index=True, width="stretch", height=min(38 + 35 * len(table), 600),
                          column_config={
                              "output_shape": "output",
                              "params": st.column_config.NumberColumn("params", format="localized"),
                              "mult_adds": st.column_config.NumberColumn("mult-adds", format="localized"),
                              "receptive_field": st.column_config.NumberColumn(
                                  "RF", help="Receptive field: input pixels (per side) one value can see"),
                              "activations": st.column_config.NumberColumn("activations", format="localized"),
                          })
        numbers.caption("RF = receptive field: how many input pixels (per side) one value of that layer depends on; "
                        "after Flatten every value sees the whole image. Shapes are per image (a batch adds N in "
                        "front); mult-adds count Conv2d and Linear layers.")
        code_specs = specs if source == "📚 Registry model" else (report.specs if report.ok else None)
        if code_specs is not None:
            st.subheader("The network in PyTorch")
            with friendly_errors("Generating the code"):
                reference = report.model
                tabs = st.tabs(["nn.Module style", "nn.Sequential style"])
                for tab, writer in zip(tabs, (codegen.module_code, codegen.sequential_code)):
                    code = writer(code_specs, input_shape)
                    check = codegen.check_generated(code, reference, input_shape)
                    tab.code(code, language="python", line_numbers=True)
                    verdict = "the same as" if check.matches else "DIFFERENT from"
                    tab.caption(f"Executed: {check.params:,} parameters, output N x "
                                f"{' x '.join(map(str, check.output_shape[1:]))}: {verdict} the network above.")
