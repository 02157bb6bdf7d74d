"""The Layer visualization page's tabs: feature maps, all layers, filters, attributions, statistics.

Each tab gets the page's loaded model (`vm`), its preprocessed input (`ready`) and the recorded
layer outputs (`result`); nothing here trains or re-modes the shared, cached model.
"""
from __future__ import annotations

import altair as alt
import numpy as np
import streamlit as st

from cnn_core.data.preprocess import enlarge
from cnn_core.inspect import attribution as attr, feature_maps as act
from pages.common import links
from pages.common.charts import legend_highlight
from pages.common.errors import friendly_errors
from pages.layer_viz.inside import erf_tab, feature_vis_tab
from pages.common.formulas import show_formula

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)

NO_MAPS_TEXT = ("This network has no layer with spatial feature maps (it is fully connected: every layer "
                "sees the flattened image), so there are no feature maps to draw. Pick a CNN such as LeNet-5.")


@st.cache_data(max_entries=32, show_spinner="Computing gradients...")
def attributions(model_key: str, input_key: str, layer: str | None, class_index: int, _vm, _x
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """Saliency and Grad-CAM (None without a layer) for one class, cached per (model, input, layer, class)."""
    cam = attr.grad_cam(_vm.model, _x, layer, class_index) if layer is not None else None
    return attr.saliency(_vm.model, _x, class_index), cam


def pick_layer(result, vm, c1) -> str:
    """Layer kind and layer selectboxes in column c1; returns the chosen layer's key."""
    groups = ["all"] + [g for g in act.GROUPS if result.keys(g, maps_only=True)]
    group = c1.selectbox("Layer kind", groups, key=f"lv_group_{vm.key}",
                         help="conv = convolution outputs, activation = after ReLU/ReLU6/tanh, block = residual "
                              "or MBConv block outputs, norm = batch norm.")
    layer_keys = result.keys(group, maps_only=True)
    default = act.default_layer(result)
    return c1.selectbox("Layer", layer_keys, format_func=lambda k: result.layer(k).label,
                        key=f"lv_layer_{vm.key}_{group}",
                        index=layer_keys.index(default) if default in layer_keys else 0)


def show_one_channel(layer, key: str, vm, ready, scale: str, cmap: str) -> None:
    """One channel, large, next to the input and over it."""
    st.markdown("**One channel, large, next to the input**")
    pick = ui.selectbox("Channel", [int(c) for c in layer.order], key=f"lv_channel_{vm.key}_{key}",
                        format_func=lambda c: f"ch {c} (mean |a| = {layer.strength[c]:.3f})")
    a, b, c = ui.columns(3)
    a.image(enlarge(ready.view, 320), caption="network input", alt="network input", width="stretch")
    b.image(act.channel_image(layer, pick, scale=scale, cmap=cmap), caption=f"{key}, channel {pick}", alt=f"{key}, channel {pick}",
            width="stretch")
    own = layer.maps[pick].astype("float32")
    c.image(attr.overlay(ready.view, own - own.min(), 0.55, cmap, size=320), caption="the map over the input", alt="the map over the input",
            width="stretch")


def feature_maps_tab(result, vm, ready) -> None:
    """The strongest channels of one layer as a grid, a PNG download, one channel large."""
    if not result.keys(maps_only=True):
        st.info(NO_MAPS_TEXT, icon="ℹ️")
        return
    c1, c2, c3, c4 = ui.columns([3, 2, 2, 2])
    key = pick_layer(result, vm, c1)
    layer = result.layer(key)
    count = min(layer.shape[0], c2.slider("Channels shown", 1, 64, 16, key="lv_count",
                                          help="The channels with the largest mean |activation| come first."))
    scale = c3.radio("Colour scale", ["shared", "per-map"], key="lv_scale",
                     help="shared: one scale for the whole layer, so maps compare; per-map: each map stretched to "
                          "its own range, so weak maps show their pattern too.")
    cmap = c4.selectbox("Colormap", ["viridis", "magma", "gray", "coolwarm"], key="lv_cmap")
    grid = act.feature_grid(layer, act.strongest_channels(layer, count), scale, cmap)
    st.image(grid, caption=f"{layer.label}: {count} of {layer.shape[0]} channels, strongest first "
                           f"(values {layer.min:.2f} … {layer.max:.2f})", alt=(f"{layer.label}: {count} of {layer.shape[0]} channels, strongest first "
                           f"(values {layer.min:.2f} … {layer.max:.2f})"))
    tile = 96 if layer.shape[0] <= 256 else 48
    st.download_button(f"⬇️ Download all {layer.shape[0]} channels as a PNG grid",  # drawn only when clicked
                       lambda: act.png_bytes(act.feature_grid(layer, None, scale, cmap, tile=tile)),
                       file_name=f"{vm.key}-{key.replace('#', '_')}.png", mime="image/png", key="lv_download")
    show_one_channel(layer, key, vm, ready, scale, cmap)


def all_layers_tab(result, vm) -> None:
    """The strongest channel of every layer in a strip, input side to output side."""
    if not result.keys(maps_only=True):
        st.info(NO_MAPS_TEXT, icon="ℹ️")
        return
    strip_groups = [g for g in ("block", "all", "activation", "conv") if result.keys(g, maps_only=True)]
    strip_group = ui.radio("Layers in the strip", strip_groups, horizontal=True, key=f"lv_strip_{vm.key}",
                           help="For deep networks, 'block' shows one tile per MBConv/residual block.")
    strip_keys = result.keys(strip_group, maps_only=True)
    strip = act.overview_tiles(result, strip_keys[:64])
    st.caption("The strongest channel of each layer, from the input side to the output side, each on its own "
               "colour scale: the maps shrink while their number grows and what they respond to gets more abstract."
               + (f" (First 64 of {len(strip_keys)} layers.)" if len(strip_keys) > 64 else ""))
    st.image([img for img, _ in strip], caption=[cap for _, cap in strip], alt=[cap for _, cap in strip], width=120)


def show_deeper_filters(convs: list, vm) -> None:
    """A deeper conv layer's filters: depthwise kernels, a 1x1 matrix or one output channel's slices."""
    names = [n for n, _ in convs]
    by_name = dict(convs)
    conv_name = ui.selectbox("Deeper layer", names, index=min(1, len(names) - 1), key=f"lv_conv_{vm.key}",
                             format_func=lambda n: f"{n} · {by_name[n].weight.shape[0]} filters"
                             + (f" · groups = {by_name[n].groups}" if by_name[n].groups > 1 else ""))
    conv = by_name[conv_name]
    kh, kw = conv.kernel_size
    if conv.groups == conv.in_channels > 1:
        st.image(act.depthwise_filters(conv), caption=f"{conv_name} is depthwise (groups = {conv.groups}): "
                 f"filter i is one {kh}x{kw} kernel that sees only input channel i (red > 0, blue < 0; first 64 shown)", alt=(f"{conv_name} is depthwise (groups = {conv.groups}): "
                 f"filter i is one {kh}x{kw} kernel that sees only input channel i (red > 0, blue < 0; first 64 shown)"))
    elif conv.kernel_size == (1, 1):
        st.image(act.pointwise_matrix(conv), caption=f"{conv_name}: a 1x1 convolution is a {conv.out_channels} x "
                 f"{conv.in_channels} matrix applied at every pixel (rows = output channels; red > 0, blue < 0)", alt=(f"{conv_name}: a 1x1 convolution is a {conv.out_channels} x "
                 f"{conv.in_channels} matrix applied at every pixel (rows = output channels; red > 0, blue < 0)"))
    else:
        out = ui.number_input("Output channel", 0, conv.out_channels - 1, 0, key=f"lv_out_{vm.key}_{conv_name}")
        st.image(act.kernel_slices(conv, int(out)), caption=f"{conv_name}, output channel {out}: one "
                 f"{kh}x{kw} kernel per input channel it sees (red > 0, blue < 0)", alt=(f"{conv_name}, output channel {out}: one "
                 f"{kh}x{kw} kernel per input channel it sees (red > 0, blue < 0)"))


def filters_tab(vm) -> None:
    """The first layer's filters as image tiles, then a deeper layer's."""
    convs = act.conv_layers(vm.model)
    if not convs:
        st.info("This network has no convolution layers (it is fully connected), so it has no filters to show. "
                "Pick a CNN such as LeNet-5 to see learned filters.", icon="ℹ️")
        return
    first_name, first = convs[0]
    st.markdown(f"**First layer `{first_name}`**: {first.out_channels} filters of {first.in_channels} x "
                f"{first.kernel_size[0]} x {first.kernel_size[1]}, shown as "
                f"{'RGB' if first.in_channels == 3 else 'grayscale'} tiles (gray/mid-colour = 0).")
    st.image(act.first_layer_filters(first), alt=f"the {first.out_channels} filters of {first_name} as image tiles")
    show_deeper_filters(convs, vm)


def attribution_tab(result, vm, ready, image_key: str, input_key: str) -> None:
    """Saliency and Grad-CAM for a chosen class."""
    st.markdown("**Saliency**: how much each input pixel changes the class score $y^c$. **Grad-CAM**: weight "
                "each feature map $A^k$ of a layer by the average gradient of $y^c$ over it.")
    show_formula(r"S_{ij} = \max_{\text{colour}}\left|\frac{\partial y^c}{\partial x_{ij}}\right| \qquad "
             r"\alpha_k^c = \frac{1}{Z}\sum_{i,j}\frac{\partial y^c}{\partial A^k_{ij}} \qquad "
             r"L^c_{\text{Grad-CAM}} = \mathrm{ReLU}\Big(\sum_k \alpha_k^c A^k\Big)")
    k1, k2 = ui.columns(2)
    cls = k1.selectbox("Class", list(range(len(result.probabilities))), index=result.predicted,
                       key=f"lv_class_{vm.key}_{image_key}",
                       format_func=lambda i: f"{result.class_name(i)} ({result.probabilities[i]:.1%})",
                       help="Default: the predicted class. Pick another to see what speaks for it.")
    cam_keys = [k for k in result.keys(maps_only=True) if result.layer(k).group != "linear"]
    cam_layer = None
    if cam_keys:
        cam_layer = k2.selectbox("Grad-CAM layer", cam_keys,
                                 index=cam_keys.index(act.default_layer(result, for_cam=True)),
                                 key=f"lv_cam_{vm.key}", format_func=lambda k: result.layer(k).label,
                                 help="Deep layers: coarse but class-specific; early layers: sharp but generic.")
    sal, cam = attributions(vm.key, input_key, cam_layer, int(cls), vm, ready.tensor)
    a, b, c = ui.columns(3)
    a.image(attr.heatmap_image(attr.robust_unit(sal)), caption="saliency |∂y/∂x|", alt="saliency |∂y/∂x|", width="stretch")
    b.image(attr.overlay(ready.view, attr.robust_unit(sal), 0.6, "inferno", size=320),
            caption="saliency over the input", alt="saliency over the input", width="stretch")
    if cam is None:
        c.info("Grad-CAM needs a layer with spatial feature maps, and this fully-connected network has none: "
               "only the saliency map applies.", icon="ℹ️")
    else:
        c.image(attr.overlay(ready.view, cam, 0.5, "jet", size=320), width="stretch",
                caption=f"Grad-CAM for '{result.class_name(int(cls))}' at {cam_layer} ({cam.shape[0]}x{cam.shape[1]})", alt=f"Grad-CAM for '{result.class_name(int(cls))}' at {cam_layer} ({cam.shape[0]}x{cam.shape[1]})")


def stats_tab(result) -> None:
    """Mean, spread and zero fraction of every layer's activations, charted and tabled."""
    frame = act.stats_frame(result)
    st.caption("Per layer: mean and standard deviation of the activations, and the fraction of exact zeros "
               "(what ReLU produces: a high fraction = sparse features; close to 1 = 'dead' units).")
    frame["position"] = range(len(frame))
    pick, opacity = legend_highlight("group", dim=0.1)
    for column, stat, title in zip(ui.columns(2), ["std", "zero_fraction"],
                                   ["standard deviation", "fraction of zeros"]):
        column.altair_chart(alt.Chart(frame, title=f"{title} per layer").mark_point(filled=True, size=40).encode(
            x=alt.X("position:Q", title="layer (execution order)"), y=alt.Y(f"{stat}:Q", title=title),
            color=alt.Color("group:N", title="layer kind"), opacity=opacity,
            tooltip=["layer", "type", "output_shape", alt.Tooltip(f"{stat}:Q", format=".3f")]
        ).add_params(pick).properties(  # fit the width only: under "fit" a tall legend squeezed the plot
            height=220, autosize=alt.AutoSizeParams(type="fit-x", contains="padding")),
            width="stretch", key=f"lv_stat_{stat}")
    number = st.column_config.NumberColumn(format="%.3f")
    st.dataframe(frame.drop(columns="position"), hide_index=True, height=360, width="stretch",
                 column_config={"mean": number, "std": number, "min": number, "max": number,
                                "zero_fraction": st.column_config.ProgressColumn("zeros", format="percent",
                                                                                 min_value=0.0, max_value=1.0)})


def show_tabs(result, vm, ready, image_key: str, input_key: str) -> None:
    """The five tabs, each in its own friendly_errors box."""
    tab_maps, tab_all, tab_filters, tab_cam, tab_stats, tab_erf, tab_want = ui.tabs(
        ["🗺️ Feature maps", "🎞️ All layers", "🧱 Filters", "🔥 What it looks at", "📊 Statistics",
         "🎯 Receptive field", "✨ What filters want"])
    with tab_maps, friendly_errors("Drawing the feature maps"):
        feature_maps_tab(result, vm, ready)
    with tab_all, friendly_errors("Drawing the overview"):
        all_layers_tab(result, vm)
    with tab_filters, friendly_errors("Drawing the filters"):
        filters_tab(vm)
    with tab_cam, friendly_errors("Computing the attributions"):
        attribution_tab(result, vm, ready, image_key, input_key)
    with tab_stats:
        stats_tab(result)
    with tab_erf, friendly_errors("The receptive field"):
        erf_tab(vm, ready, input_key)
    with tab_want, friendly_errors("Feature visualization"):
        feature_vis_tab(vm)
