"""CNN architecture: LeNet-5 and friends from the registry, your own network layer by layer, pretrained networks."""
from pathlib import Path

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from cnn_core.errors import ArchitectureError
from cnn_core.experiments.architectures import (PRETRAINED_INPUT, PretrainedSummary, pretrained_choices,
                                                summarize_pretrained)
from cnn_core.inspect import codegen
from cnn_core.models import LENET5_SPECS, MODELS, ModelOptions, build_model, lenet_differences, specs_to_json
from pages.architecture import builder
from pages.common import lessons, links
from pages.common.errors import friendly_errors
from pages.common.export_buttons import architecture_downloads
from pages.common.session_keys import CUSTOM_ARCHITECTURE
from pages.common.widgets import JSON_UPLOAD_MB

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)

REGISTRY_SOURCE, PRETRAINED_SOURCE = "📚 Registry model", "🖼️ Pretrained (ImageNet)"
REGISTRY = [name for name in ("lenet5-modern", "lenet5-classic", "lenet5-1998", "convnet-lecture",
                              "convnet-lecture-seq", "mlp", "deep-mlp", "plain-cnn") if name in MODELS]
INPUTS = {"1 x 28 x 28 (MNIST)": (1, 28, 28), "1 x 32 x 32 (LeCun's LeNet input)": (1, 32, 32),
          "3 x 32 x 32 (CIFAR-10)": (3, 32, 32)}
TABLE_COLUMNS = {
    "output_shape": "output",
    "params": st.column_config.NumberColumn("params", format="localized"),
    "mult_adds": st.column_config.NumberColumn("mult-adds", format="localized"),
    "receptive_field": st.column_config.NumberColumn("RF", help="Receptive field: input pixels (per side) one value "
                                                               "can see"),
    "activations": st.column_config.NumberColumn("activations", format="localized"),
}


def intro() -> None:
    """Title and the one paragraph of theory."""
    st.title("🏗️ CNN architecture")
    st.markdown(
        "A CNN is a stack of **convolution → activation → pooling** blocks that turn the image into ever smaller, "
        "deeper feature maps, followed by **fully-connected** layers that classify: LeNet-5 (LeCun, 1998) is "
        "C1 → S2 → C3 → S4 → C5 → F6 → output.")
    lessons.exercise_panel("2_Architecture.py")
    st.caption("Build your own, pick a model from the registry, or look inside a pretrained ImageNet network; "
               "the numbers, the diagram and the PyTorch code (both styles of the lecture) follow every change.")


def registry_section() -> tuple[codegen.ArchitectureReport | None, tuple | None, tuple[int, int, int]]:
    """A registry model: (report, its layer specs or None when the builder cannot express it, input shape)."""
    c1, c2 = ui.columns([1.3, 1])
    name = c1.selectbox("Model", REGISTRY, key="arch_registry", format_func=lambda n: MODELS[n].label)
    c1.caption(MODELS[name].explanation)
    fixed = MODELS[name].fixed_input
    if fixed is None:
        input_shape = INPUTS[c2.selectbox("Input", list(INPUTS), key="arch_registry_input")]
    else:
        input_shape = fixed
        c2.markdown(f"Input: **{' x '.join(map(str, fixed))}** (the lecture's example is drawn for this size)")
    report, specs = None, None
    with friendly_errors("Building the model"):
        model = build_model(name, ModelOptions(in_channels=input_shape[0], image_size=input_shape[1]))
        report = codegen.model_report(model, input_shape)
        try:
            specs = codegen.specs_from_model(model, input_shape)
        except ArchitectureError as exc:
            c2.info(f"No generated code for this model: {exc}.")
        if specs is not None:
            c2.button("Edit a copy in the builder", key="arch_copy", on_click=builder.copy_to_builder,
                      args=(specs, input_shape))
    if name.startswith("lenet5"):
        lenet_table()
    return report, specs, input_shape


def lenet_table() -> None:
    """LeNet-5 as published (1998) next to the playground's modern variant, with what changed and why."""
    with ui.expander("LeNet-5 as published (1998) vs the modern variant: what changed and why"):
        frame = pd.DataFrame(lenet_differences())
        st.dataframe(frame, hide_index=True, width="stretch", column_config={
            "layer": "Layer", "lenet5_1998": "LeNet-5 (1998)", "lenet5_modern": "LeNet-5 modern (this playground)",
            "difference": "What changed", "why": "Why"})


def input_widgets() -> tuple[int, int, int]:
    """The builder's input channels and size (square)."""
    i1, i2, i3 = ui.columns([1, 1, 2])
    channels = i1.number_input("Input channels", 1, builder.MAX_CHANNELS, key=builder.IN_CHANNELS, help="1 = grayscale, 3 = RGB")
    size = i2.number_input("Input size (H = W)", builder.MIN_SIZE, builder.MAX_SIZE, key=builder.IN_SIZE,
                           help="Square images, in pixels")
    i3.caption("LeNet-5 was designed for 32 x 32 digits; with 28 x 28 MNIST digits its first convolution pads "
               "by 2 so that C1 is still 6 x 28 x 28.")
    input_shape = (int(channels), int(size), int(size))
    st.session_state[builder.INPUT_SHAPE] = input_shape
    return input_shape


def builder_section(layers: list, report: codegen.ArchitectureReport, specs: tuple,
                    input_shape: tuple[int, int, int]) -> None:
    """The layer builder: layer list, editor of the selected layer, JSON save / load."""
    st.caption("Click a layer to edit its parameters, move it or remove it; add layers under the list. A layer "
               "that cannot work is marked, with the reason and how to fix it. Fields left empty are automatic "
               "(`auto`).")
    with ui.container(horizontal=True, gap="medium"):  # side by side on a laptop, stacked when narrow
        with ui.container(width=460):
            if not layers:
                st.info("No layers yet: add one below.")
            builder.layer_list(layers, report)
            builder.add_layer_form(layers)
        with ui.container(width=370, border=True):
            builder.layer_editor(layers)
    json_section(specs, input_shape)


def json_section(specs: tuple, input_shape: tuple[int, int, int]) -> None:
    """Download the design, or load one from a file or pasted text (a bad file keeps the current design)."""
    with ui.expander("💾 Save or load this design as JSON"):
        s1, s2 = ui.columns(2)
        s1.download_button("Download architecture.json", specs_to_json(specs, input_shape),
                           file_name="architecture.json", mime="application/json", key="arch_download")
        s1.file_uploader("Load a .json file", type=["json"], key="arch_json_file", max_upload_size=JSON_UPLOAD_MB, on_change=builder.load_json,
                         args=("arch_json_file",))
        s2.text_area("...or paste JSON", key="arch_json_text", height=140,
                     placeholder='{"input_shape": [1, 28, 28], "layers": [{"kind": "conv", ...}]}')
        s2.button("Load pasted JSON", key="arch_json_load", on_click=builder.load_json, args=("arch_json_text",))
        if st.session_state.get(builder.LOAD_ERROR):
            st.error(st.session_state[builder.LOAD_ERROR])


def build_status(report: codegen.ArchitectureReport, specs: tuple, input_shape: tuple[int, int, int]) -> None:
    """What is wrong (and how to fix it), or: stored for the Train page."""
    if report.error is not None:
        st.error(f"✗ {report.error}")
        if report.model is not None:
            st.caption("The numbers, diagram and code below show the layers before the wrong one.")
        return
    st.session_state[CUSTOM_ARCHITECTURE] = (specs, input_shape)
    c1, c2 = ui.columns([3, 1], vertical_alignment="center")
    c1.success("This network is stored for this session: the Train page can train it.")
    if (Path(__file__).parent / "8_Train.py").exists():
        try:
            c2.page_link("pages/8_Train.py", label="Train it", icon="🏋️")
        except StreamlitPageNotFoundError:  # this page runs on its own (not under playground.py)
            c2.caption("Open **Train** in the sidebar.")


def metrics(totals: dict[str, float], output_shape: str) -> None:
    """Parameters, multiply-adds, activation memory and output shape."""
    row, memory = ui.container(horizontal=True, gap="medium"), totals["activation_mb"]  # wraps when narrow
    row.metric("Parameters", f"{totals['params']:,}", help="Counted on the PyTorch model itself", width=200)
    row.metric("Multiply-adds / image", f"{totals['mult_adds']:,}", help="Conv: out values x in_channels/groups"
               " x k x k; Linear: in x out", width=200)
    row.metric("Activation memory / image", f"{memory * 1024:,.1f} KB" if memory < 10 else f"{memory:,.1f} MB",
               help="All layer outputs of one image as float32 (what training keeps for backprop)", width=200)
    row.metric("Output shape", output_shape.replace("x", " x "), width=200)


def layer_table(target, summary: pd.DataFrame, keep_names: bool) -> None:
    """The per-layer table with its caption."""
    table = summary.drop(columns=["trainable"] + ([] if keep_names else ["layer"]))
    table.insert(0, "#", range(1, len(table) + 1))
    target.dataframe(table, hide_index=True, width="stretch", height=min(38 + 35 * len(table), 600),
                     column_config=TABLE_COLUMNS)
    target.caption("RF = receptive field: how many input pixels (per side) one value of that layer depends on; "
                   "after Flatten every value sees the whole image. Shapes are per image (a batch adds N in "
                   "front); mult-adds count convolutions and Linear layers.")


def diagram_and_table(report: codegen.ArchitectureReport, keep_names: bool) -> None:
    """The diagram and the per-layer table of a built network."""
    diagram, numbers = ui.columns([1, 2.3], gap="medium")
    diagram.graphviz_chart(codegen.architecture_dot(report.model, report.input_shape, report.error, report.specs),
                           width="stretch")
    layer_table(numbers, report.summary, keep_names)


def code_section(specs: tuple, report: codegen.ArchitectureReport) -> None:
    """The network in both styles of the lecture, executed to prove it is the same network."""
    st.subheader("The network in PyTorch")
    with friendly_errors("Generating the code"):
        tabs = ui.tabs(["nn.Module style", "nn.Sequential style"])
        for tab, writer in zip(tabs, (codegen.module_code, codegen.sequential_code)):
            code = writer(specs, report.input_shape)
            check = codegen.check_generated(code, report.model, report.input_shape)
            tab.code(code, language="python", line_numbers=True)
            verdict = "the same as" if check.matches else "DIFFERENT from"
            tab.caption(f"Executed: {check.params:,} parameters, output N x "
                        f"{' x '.join(map(str, check.output_shape[1:]))}: {verdict} the network above.")
        architecture_downloads(specs, report.input_shape)


@st.cache_data(show_spinner="Loading the network and running one 224 x 224 image through it...", max_entries=4)
def cached_pretrained(key: str) -> PretrainedSummary:
    """summarize_pretrained, once per process and network."""
    return summarize_pretrained(key)


def pretrained_section() -> None:
    """The same per-layer table for a real ImageNet network (no diagram or code: too many layers to draw)."""
    choices = pretrained_choices()
    key = ui.selectbox("Pretrained network", list(choices), key="arch_pretrained", format_func=choices.get)
    if "resnet18" not in choices:
        st.caption("ResNet-18 appears here once its weights are in the torch hub cache (open it on the Layer "
                   "Visualization page with internet once).")
    with friendly_errors("Summarizing the network"):
        result = cached_pretrained(key)
        st.caption(f"{result.label}: {result.description} Input {' x '.join(map(str, PRETRAINED_INPUT))}.")
        metrics(result.totals, result.summary["output_shape"].iloc[-1])
        layer_table(ui, result.summary, keep_names=True)


def main() -> None:
    """Pick the source, then show what it gives: status, numbers, diagram, code."""
    st.set_page_config(page_title="Architecture", page_icon="🏗️", layout="wide")
    links.start_page()
    intro()
    source = ui.radio("Network", [builder.BUILD, REGISTRY_SOURCE, PRETRAINED_SOURCE], key=builder.SOURCE, horizontal=True)
    layers = builder.init_builder(LENET5_SPECS, (1, 28, 28))
    if source == PRETRAINED_SOURCE:
        pretrained_section()
        return
    if source == REGISTRY_SOURCE:
        report, code_specs, input_shape = registry_section()
    else:  # the result (what is wrong, or the totals) first, then the builder
        input_shape = input_widgets()
        specs = builder.layers_to_specs(layers)
        report = codegen.check_architecture(specs, input_shape)
        code_specs = report.specs if report.ok else None
        build_status(report, specs, input_shape)
    if report is not None and report.model is not None:
        metrics(report.totals, report.summary["output_shape"].iloc[-1])
    if source == builder.BUILD:
        builder_section(layers, report, specs, input_shape)
    if report is None or report.model is None:
        return
    diagram_and_table(report, keep_names=source != builder.BUILD)
    if code_specs is not None:
        code_section(code_specs, report)


main()
links.finish_page()
