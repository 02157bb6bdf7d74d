"""The layer builder of the Architecture page: a list of layer dicts in st.session_state, edited in place.

State (one student = one session): LAYERS is a list of {"uid": int, "kind": str, **params}; a
layer's editor widgets have keys f"arch_{uid}_{param}", so a test can find them from the uid.
Only the selected layer's editor is drawn; its widget values are copied back into the layer
dict at the start of every run (before anything is drawn), so the list is never one step behind.
"""
from __future__ import annotations

from typing import Any

import streamlit as st

from cnn_core.errors import ArchitectureError
from cnn_core.inspect.codegen import ArchitectureReport
from cnn_core.models import LAYER_KINDS, LayerSpec, Param, specs_from_json

LAYERS = "arch_layers"          # list[dict]: the layer list being built
NEXT_UID = "arch_next_uid"      # int: uid of the next added layer
SELECTED = "arch_selected"      # uid of the layer whose editor is open
IN_CHANNELS, IN_SIZE = "arch_in_channels", "arch_in_size"  # widget keys (dropped while not drawn)
INPUT_SHAPE = "arch_input_shape"  # (C, H, W): survives a visit to the registry view
LOAD_ERROR = "arch_json_error"  # message of the last failed JSON load (None after a good one)
SOURCE = "arch_source"          # the page's radio: build your own / registry / pretrained
BUILD = "🧱 Build your own"
MAX_CHANNELS, MIN_SIZE, MAX_SIZE = 16, 4, 256  # bounds of the input widgets
FIELD_WIDTH = 158               # px per parameter widget: two per row in the editor


def _layer_from_spec(spec: LayerSpec, uid: int) -> dict[str, Any]:
    """A builder layer dict with every parameter of the kind spelled out (None = automatic)."""
    return {"uid": uid, "kind": spec.kind, **LAYER_KINDS[spec.kind].resolve(dict(spec.params))}


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
        for name in LAYER_KINDS[layer["kind"]].params:
            key = f"arch_{layer['uid']}_{name}"
            if key in st.session_state:
                layer[name] = st.session_state[key]
    return layers


def layers_to_specs(layers: list[dict[str, Any]]) -> tuple[LayerSpec, ...]:
    """The builder's layer dicts as LayerSpecs (None = automatic)."""
    return tuple(LayerSpec.of(layer["kind"], **{name: layer.get(name, param.default) for name, param
                                                in LAYER_KINDS[layer["kind"]].params.items()}) for layer in layers)


def describe(layer: dict[str, Any]) -> str:
    """'**Conv2d** 5x5, 6 filters, pad 2' style text for the list (the kind's own label)."""
    kind = LAYER_KINDS[layer["kind"]]
    head, _, rest = kind.describe(kind.resolve(layer)).partition(" ")
    return f"**{head}** {rest}".rstrip()


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
    spec = LayerSpec.of(kind)
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
    c1.selectbox("New layer", list(LAYER_KINDS), format_func=lambda k: LAYER_KINDS[k].label, key="arch_add_kind")
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
    kind, index = LAYER_KINDS[layer["kind"]], layers.index(layer)
    st.markdown(f"**Layer {index + 1}: {kind.label}**")
    b1, b2, b3 = st.columns([1, 1.1, 1.3], gap="small")
    b1.button("Up", icon=":material/arrow_upward:", key=f"arch_up_{uid}", on_click=_move, args=(uid, -1),
              disabled=index == 0, width="stretch", help="Move this layer up")
    b2.button("Down", icon=":material/arrow_downward:", key=f"arch_down_{uid}", on_click=_move, args=(uid, 1),
              disabled=index == len(layers) - 1, width="stretch", help="Move this layer down")
    b3.button("Remove", icon=":material/delete:", key=f"arch_remove_{uid}", on_click=_remove, args=(uid,),
              width="stretch", help="Remove this layer")
    st.caption(kind.explanation)
    if not kind.params:
        st.caption("This layer has no parameters to set.")
    fields = st.container(horizontal=True, gap="small")  # two per row in the editor, wrapping when narrow
    for name, param in kind.params.items():
        key = f"arch_{uid}_{name}"
        if key not in st.session_state:
            st.session_state[key] = _widget_value(param, layer.get(name, param.default))
        _param_widget(fields, name, param, key)
        layer[name] = st.session_state[key]


def _widget_value(param: Param, value: Any) -> Any:
    """A layer's value clipped to what its widget can show (None stays None where it means automatic)."""
    if value is None and param.auto is not None:
        return None
    if param.type in ("int", "number"):
        cast = int if param.type == "int" else float
        return cast(min(max(cast(value if value is not None else param.low), param.low), param.ui_high or param.high))
    if param.type == "bool":
        return bool(value)
    return value if value in param.choices else param.choices[0]


def _param_widget(target: Any, name: str, param: Param, key: str) -> None:
    """The widget of one parameter; an automatic one shows its `auto` text while empty."""
    label, high, width = param.label or name, param.ui_high or param.high, FIELD_WIDTH
    if param.type == "int":
        target.number_input(label, int(param.low), int(high), step=1, key=key, help=param.help,
                            placeholder=param.auto, width=width)
    elif param.type == "number":
        target.number_input(label, float(param.low), float(high), step=param.step, key=key, help=param.help,
                            width=width)
    elif param.type == "bool":
        target.checkbox(label, key=key, help=param.help, width=width)
    else:
        target.selectbox(label, param.choices, key=key, help=param.help, width=width)
