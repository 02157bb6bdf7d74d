"""The layer builder of the Architecture page: a list of layer dicts in st.session_state, edited in place.

State (one student = one session): LAYERS is a list of {"uid": int, "kind": str, **params}; a
layer's editor widgets have keys f"arch_{uid}_{param}", so a test can find them from the uid.
Only the selected layer's editor is drawn; its widget values are copied back into the layer
dict at the start of every run (before anything is drawn), so the list is never one step behind.
"""
from __future__ import annotations

from typing import Any

import streamlit as st

from cnn_core.inspect.codegen import ArchitectureReport
from cnn_core.errors import ArchitectureError
from cnn_core.models import ACTIVATIONS, LAYER_DEFAULTS, LAYER_EXPLANATIONS, LayerSpec, specs_from_json

LAYERS = "arch_layers"          # list[dict]: the layer list being built
NEXT_UID = "arch_next_uid"      # int: uid of the next added layer
SELECTED = "arch_selected"      # uid of the layer whose editor is open
IN_CHANNELS, IN_SIZE = "arch_in_channels", "arch_in_size"  # widget keys (dropped while not drawn)
INPUT_SHAPE = "arch_input_shape"  # (C, H, W): survives a visit to the registry view
LOAD_ERROR = "arch_json_error"  # message of the last failed JSON load (None after a good one)
SOURCE = "arch_source"          # the page's radio: build your own / registry model
BUILD = "🧱 Build your own"
MAX_CHANNELS, MIN_SIZE, MAX_SIZE = 16, 4, 256  # bounds of the input widgets

KIND_LABELS = {"conv": "Conv2d", "activation": "Activation", "maxpool": "MaxPool2d", "avgpool": "AvgPool2d",
               "batchnorm": "BatchNorm", "dropout": "Dropout", "flatten": "Flatten", "linear": "Linear"}
PADDING_MODES = ["zeros", "reflect", "replicate", "circular"]

# param -> (widget, label, min, max, help); 0 means "automatic" for in_channels / in_features / pool stride
FIELDS: dict[str, dict[str, tuple]] = {
    "conv": {
        "in_channels": ("int", "in_channels", 0, 1024, "0 = automatic: the channels of the previous layer's output"),
        "out_channels": ("int", "out_channels", 1, 1024, "Number of kernels = output feature maps"),
        "kernel_size": ("int", "kernel_size", 1, 32, "k x k window"),
        "stride": ("int", "stride", 1, 16, "Step between windows"),
        "padding": ("int", "padding", 0, 32, "Pixels added on every side"),
        "dilation": ("int", "dilation", 1, 16, "Spacing between kernel taps"),
        "groups": ("int", "groups", 1, 1024, "Split channels into groups (must divide in and out channels)"),
        "padding_mode": ("select", "padding_mode", PADDING_MODES, None, "What the padding contains"),
        "bias": ("bool", "bias", None, None, "Add a learned bias b per output channel"),
    },
    "activation": {"name": ("select", "function", list(ACTIVATIONS), None, None)},
    "maxpool": {
        "kernel_size": ("int", "kernel_size", 1, 32, None),
        "stride": ("int", "stride", 0, 16, "0 = same as kernel_size (PyTorch's stride=None)"),
        "padding": ("int", "padding", 0, 16, "At most kernel_size / 2"),
        "dilation": ("int", "dilation", 1, 16, None),
        "ceil_mode": ("bool", "ceil_mode", None, None, "Round the output size up"),
    },
    "avgpool": {
        "kernel_size": ("int", "kernel_size", 1, 32, None),
        "stride": ("int", "stride", 0, 16, "0 = same as kernel_size (PyTorch's stride=None)"),
        "padding": ("int", "padding", 0, 16, "At most kernel_size / 2"),
        "ceil_mode": ("bool", "ceil_mode", None, None, "Round the output size up"),
    },
    "batchnorm": {},
    "dropout": {"p": ("float", "p (drop probability)", 0.0, 0.95, "Zeroes each value with probability p "
                                                                   "(training only)")},
    "flatten": {},
    "linear": {
        "in_features": ("int", "in_features", 0, 1_000_000, "0 = automatic: the size of the flattened input"),
        "out_features": ("int", "out_features", 1, 8192, "Number of output units"),
        "bias": ("bool", "bias", None, None, None),
    },
}
AUTO_ZERO = {("conv", "in_channels"), ("linear", "in_features"), ("maxpool", "stride"), ("avgpool", "stride")}


def _layer_from_spec(spec: LayerSpec, uid: int) -> dict[str, Any]:
    layer = {"uid": uid, "kind": spec.kind}
    for name in FIELDS.get(spec.kind, {}):
        value = spec.get(name)
        layer[name] = 0 if value is None and (spec.kind, name) in AUTO_ZERO else value
    return layer


def set_layers(specs: tuple[LayerSpec, ...], input_shape: tuple[int, int, int]) -> None:
    """Replace the builder's layers and input (new uids, so no stale widget state)."""
    start = st.session_state.get(NEXT_UID, 0)
    st.session_state[LAYERS] = [_layer_from_spec(s, start + i) for i, s in enumerate(specs)]
    st.session_state[NEXT_UID] = start + len(specs)
    st.session_state[SELECTED] = st.session_state[LAYERS][0]["uid"] if specs else None
    st.session_state[IN_CHANNELS] = int(input_shape[0])
    st.session_state[IN_SIZE] = int(input_shape[1])
    st.session_state[INPUT_SHAPE] = tuple(int(v) for v in input_shape)


def init_builder(specs: tuple[LayerSpec, ...], input_shape: tuple[int, int, int]) -> list[dict[str, Any]]:
    """Create the builder state on a session's first run; copy editor widget values into the layers."""
    if LAYERS not in st.session_state:
        set_layers(specs, input_shape)
    for key, value in zip((IN_CHANNELS, IN_SIZE), st.session_state[INPUT_SHAPE]):
        st.session_state.setdefault(key, value)  # the widgets were not drawn last run: restore them
    layers = st.session_state[LAYERS]
    for layer in layers:
        for name in FIELDS.get(layer["kind"], {}):
            key = f"arch_{layer['uid']}_{name}"
            if key in st.session_state:
                layer[name] = st.session_state[key]
    return layers


def layers_to_specs(layers: list[dict[str, Any]]) -> tuple[LayerSpec, ...]:
    """The builder's layer dicts as LayerSpecs (0 = automatic becomes None)."""
    specs = []
    for layer in layers:
        params = {k: (None if (layer["kind"], k) in AUTO_ZERO and v == 0 else v)
                  for k, v in layer.items() if k not in ("uid", "kind")}
        specs.append(LayerSpec.of(layer["kind"], **params))
    return tuple(specs)


def describe(layer: dict[str, Any]) -> str:
    """'**Conv2d** 6 filters 5x5, pad 2' style text for the list."""
    kind, get = layer["kind"], layer.get
    if kind == "conv":
        extra = [f"stride {get('stride')}" if get("stride") != 1 else "", f"pad {get('padding')}" if get("padding")
                 else "", f"dil {get('dilation')}" if get("dilation") != 1 else "",
                 f"groups {get('groups')}" if get("groups") != 1 else "", "no bias" if not get("bias") else "",
                 get("padding_mode") if get("padding_mode") != "zeros" else "",
                 f"in {get('in_channels')}" if get("in_channels") else ""]
        text = f"{get('out_channels')} filters {get('kernel_size')}x{get('kernel_size')}"
        return f"**Conv2d** {text}" + "".join(f", {e}" for e in extra if e)
    if kind in ("maxpool", "avgpool"):
        k = get("kernel_size")
        extra = [f"stride {get('stride')}" if get("stride") not in (0, k) else "",
                 f"pad {get('padding')}" if get("padding") else "", "ceil" if get("ceil_mode") else "",
                 f"dil {get('dilation')}" if get("dilation", 1) != 1 else ""]
        return f"**{KIND_LABELS[kind]}** {k}x{k}" + "".join(f", {e}" for e in extra if e)
    if kind == "activation":
        return f"**{get('name')}**"
    if kind == "dropout":
        return f"**Dropout** p={get('p')}"
    if kind == "linear":
        return f"**Linear** → {get('out_features')}" + (f" (in {get('in_features')})" if get("in_features") else "") \
            + ("" if get("bias") else ", no bias")
    return f"**{KIND_LABELS.get(kind, kind)}**"


# ---------------------------------------------------------------- callbacks (run before the rerun)

def _index(uid: int) -> int:
    return next(i for i, layer in enumerate(st.session_state[LAYERS]) if layer["uid"] == uid)


def _move(uid: int, delta: int) -> None:
    layers = st.session_state[LAYERS]
    i = _index(uid)
    j = min(max(i + delta, 0), len(layers) - 1)
    layers[i], layers[j] = layers[j], layers[i]


def _remove(uid: int) -> None:
    layers = st.session_state[LAYERS]
    i = _index(uid)
    layers.pop(i)
    if st.session_state.get(SELECTED) == uid:
        st.session_state[SELECTED] = layers[min(i, len(layers) - 1)]["uid"] if layers else None


def _select(uid: int) -> None:
    st.session_state[SELECTED] = uid


def copy_to_builder(specs: tuple[LayerSpec, ...], input_shape: tuple[int, int, int]) -> None:
    """Button callback: put a registry model's layers into the builder and switch to it."""
    set_layers(specs, input_shape)
    st.session_state[SOURCE] = BUILD


def load_json(key: str) -> None:
    """Callback of the JSON uploader / load button: parse st.session_state[key] and replace the layers.

    A malformed design leaves the current one untouched and stores the reason under LOAD_ERROR.
    """
    value = st.session_state.get(key)
    data = value.getvalue() if hasattr(value, "getvalue") else value
    if value is None or (not data and key.endswith("text")):  # uploader cleared, or an empty text box
        st.session_state[LOAD_ERROR] = "Nothing to load: paste JSON first." if value is not None else None
        return
    try:
        specs, shape = specs_from_json(data)
        if not (1 <= shape[0] <= MAX_CHANNELS and MIN_SIZE <= shape[1] <= MAX_SIZE and shape[1] == shape[2]):
            raise ArchitectureError(f"the builder takes square inputs of {MIN_SIZE}..{MAX_SIZE} pixels with "
                                    f"1..{MAX_CHANNELS} channels, the file has {list(shape)}")
    except ArchitectureError as exc:
        st.session_state[LOAD_ERROR] = f"Could not load this design: {exc}"
        return
    st.session_state[LOAD_ERROR] = None
    set_layers(specs, shape)


def _add() -> None:
    kind = st.session_state["arch_add_kind"]
    position = st.session_state.get("arch_add_pos", len(st.session_state[LAYERS]))
    uid = st.session_state[NEXT_UID]
    st.session_state[NEXT_UID] = uid + 1
    spec = LayerSpec.of(kind, **({"name": "relu"} if kind == "activation" else {}))
    layers = st.session_state[LAYERS]
    layers.insert(min(position, len(layers)), _layer_from_spec(spec, uid))
    st.session_state[SELECTED] = uid


# ---------------------------------------------------------------- drawing

def layer_list(layers: list[dict[str, Any]], report: ArchitectureReport) -> None:
    """One row per layer: number, description (click = edit it), output shape or what is wrong."""
    bad = report.error_index
    for i, layer in enumerate(layers):
        uid = layer["uid"]
        cols = st.columns([0.25, 2.5, 1.2], vertical_alignment="center")
        selected = st.session_state.get(SELECTED) == uid
        cols[0].markdown(f"**{i + 1}**" if selected else f"{i + 1}")
        cols[1].button(describe(layer), key=f"arch_edit_{uid}", on_click=_select, args=(uid,),
                       help="Edit this layer", type="primary" if selected else "tertiary")
        if bad is not None and i == bad:
            cols[2].markdown(":red[**✗ wrong here**]")
        elif i < len(report.shapes):
            cols[2].markdown(f"`{'×'.join(map(str, report.shapes[i]))}`")
        else:
            cols[2].markdown(":gray[–]")


def add_layer_form(layers: list[dict[str, Any]]) -> None:
    """Kind, position and an Add button."""
    c1, c2, c3 = st.columns([1.2, 1.4, 0.8], vertical_alignment="bottom")
    c1.selectbox("New layer", list(KIND_LABELS), format_func=KIND_LABELS.get, key="arch_add_kind")
    positions = list(range(len(layers) + 1))
    if st.session_state.get("arch_add_pos") not in positions:
        st.session_state["arch_add_pos"] = len(layers)
    c2.selectbox("Position", positions, key="arch_add_pos",
                 format_func=lambda p: "at the end" if p == len(layers) else f"before layer {p + 1}")
    c3.button("➕ Add", key="arch_add", on_click=_add, width="stretch")


def layer_editor(layers: list[dict[str, Any]]) -> None:
    """Widgets for every parameter of the selected layer (values flow back via init_builder)."""
    uid = st.session_state.get(SELECTED)
    layer = next((layer for layer in layers if layer["uid"] == uid), None)
    if layer is None:
        st.info("Click a layer in the list to edit it.")
        return
    kind, index = layer["kind"], layers.index(layer)
    st.markdown(f"**Layer {index + 1}: {KIND_LABELS[kind]}**")
    b1, b2, b3 = st.columns([1, 1.1, 1.3], gap="small")
    b1.button("Up", icon=":material/arrow_upward:", key=f"arch_up_{uid}", on_click=_move, args=(uid, -1),
              disabled=index == 0, width="stretch", help="Move this layer up")
    b2.button("Down", icon=":material/arrow_downward:", key=f"arch_down_{uid}", on_click=_move, args=(uid, 1),
              disabled=index == len(layers) - 1, width="stretch", help="Move this layer down")
    b3.button("Remove", icon=":material/delete:", key=f"arch_remove_{uid}", on_click=_remove, args=(uid,),
              width="stretch", help="Remove this layer")
    st.caption(LAYER_EXPLANATIONS[kind])
    fields = FIELDS[kind]
    if not fields:
        st.caption("This layer has no parameters to set.")
    columns = st.columns(2)
    for n, (name, (widget, label, low, high, help_text)) in enumerate(fields.items()):
        key = f"arch_{uid}_{name}"
        value = layer.get(name, LAYER_DEFAULTS[kind].get(name))
        target = columns[n % 2]
        if widget == "int":
            if key not in st.session_state:
                st.session_state[key] = int(min(max(int(value or 0), low), high))
            target.number_input(label, low, high, step=1, key=key, help=help_text)
        elif widget == "float":
            if key not in st.session_state:
                st.session_state[key] = float(min(max(float(value), low), high))
            target.number_input(label, low, high, step=0.05, key=key, help=help_text)
        elif widget == "bool":
            if key not in st.session_state:
                st.session_state[key] = bool(value)
            target.checkbox(label, key=key, help=help_text)
        else:
            if key not in st.session_state:
                st.session_state[key] = value if value in low else low[0]
            target.selectbox(label, low, key=key, help=help_text)
        layer[name] = st.session_state[key]
