"""Layer visualization: feed a photo or a digit to a trained CNN and look at every layer's output."""
import hashlib

import altair as alt
import streamlit as st

from cnn_core.inspect import feature_maps as act
from cnn_core.inspect import attribution as attr
from cnn_core.data.images import load_image
from cnn_core.data.preprocess import enlarge, prepare
from cnn_core.data.samples import SAMPLE_PHOTOS, dataset_digit, sample_photo
from cnn_core.training.zoo import (
    TORCHVISION_MODELS,
    VISION_MODELS,
    WeightsUnavailable,
    depthwise_summary,
    download_weights,
    from_checkpoint,
    load_vision_model,
    torchvision_weights_cached,
)
from pages.common.errors import friendly_errors
from pages.common.session_keys import SESSION_CHECKPOINTS

st.set_page_config(page_title="Layer visualization", page_icon="🔍", layout="wide")
st.title("🔍 Layer visualization")
st.markdown(
    "A trained CNN turns an image into a stack of **feature maps**, one per channel of each layer. Early layers "
    "respond to edges and colours, deeper ones to textures and object parts, and the last layers to whole "
    "classes. Pick a trained network and an image (or upload your own), then look at what every layer makes "
    "of it, which filters it learned, and which pixels decided the prediction."
)
IMAGE_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif", "tif", "tiff"]


# Shared, read-only resources: one copy of each model per server process (never trained or re-moded here).
@st.cache_resource(max_entries=6, show_spinner="Loading the model (LeNet-5 is trained once on first use)...")
def builtin_model(key: str):
    return load_vision_model(key)


@st.cache_resource(max_entries=4, show_spinner="Loading the checkpoint...")
def checkpoint_model(digest: str, label: str, _data: bytes):
    return from_checkpoint(_data, label)


# Per-image results, keyed by (model, image): reruns caused by widgets only read them back.
@st.cache_data(max_entries=16, show_spinner=False)
def prepared(model_key: str, image_key: str, _vm, _load):
    image, already_mnist = _load()
    return prepare(image, _vm.input, already_mnist)


@st.cache_data(max_entries=6, show_spinner="Running the network and recording every layer...")
def analysis(model_key: str, input_key: str, _vm, _x):
    return act.analyze(_vm.model, _x, _vm.class_names)


@st.cache_data(max_entries=32, show_spinner="Computing gradients...")
def attributions(model_key: str, input_key: str, layer: str | None, class_index: int, _vm, _x):
    cam = attr.grad_cam(_vm.model, _x, layer, class_index) if layer is not None else None  # None: no maps
    return attr.saliency(_vm.model, _x, class_index), cam


def keep_valid(key: str, options: list) -> None:
    """Forget a widget's stored choice when it is no longer offered (another model or layer list)."""
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]


def select_uploaded_checkpoint() -> None:
    if st.session_state.get("lv_ckpt") is not None:
        st.session_state["lv_model"] = "upload"


# ---------------------------------------------------------------- model
session_ckpts: dict = st.session_state.get(SESSION_CHECKPOINTS, {})
options = list(VISION_MODELS) + [f"session:{name}" for name in session_ckpts]
with st.expander("Use your own trained model (a checkpoint from the Train page)"):
    ckpt_file = st.file_uploader("Checkpoint (.pt)", type=["pt", "pth"], key="lv_ckpt",
                                 on_change=select_uploaded_checkpoint,
                                 help="A CNN Playground checkpoint: weights + JSON metadata (loaded weights-only). "
                                      "Models you train on the Train page appear in the list by themselves.")
if ckpt_file is not None:
    options.append("upload")


def model_label(key: str) -> str:
    if key in TORCHVISION_MODELS:
        return VISION_MODELS[key].label + ("" if torchvision_weights_cached(key) else " (weights not downloaded)")
    if key.startswith("session:"):
        return f"Trained in this session: {key[8:]}"
    return f"Uploaded checkpoint: {ckpt_file.name}" if key == "upload" else VISION_MODELS[key].label


keep_valid("lv_model", options)
model_key = st.selectbox("Network", options, format_func=model_label, key="lv_model")
vm = None
with friendly_errors("Loading the model"):
    if model_key.startswith("session:"):
        data = session_ckpts[model_key[8:]]
        vm = checkpoint_model(hashlib.sha256(data).hexdigest(), model_key[8:], data)
    elif model_key == "upload":
        data = ckpt_file.getvalue()
        vm = checkpoint_model(hashlib.sha256(data).hexdigest(), ckpt_file.name, data)
    else:
        st.caption(VISION_MODELS[model_key].explanation)
        try:
            vm = builtin_model(model_key)
        except WeightsUnavailable as exc:  # torchvision weights not cached: a message and a way to fetch them
            st.warning(str(exc), icon="📦")
            if model_key in TORCHVISION_MODELS and st.button("Download the weights now", key="lv_fetch"):
                bar = st.progress(0.0, text="Downloading...")
                download_weights(model_key, progress=lambda f: bar.progress(f, text=f"Downloading... {f:.0%}"))
                st.rerun()
if vm is None:
    st.stop()

n_params = sum(p.numel() for p in vm.model.parameters())
st.caption(f"**{vm.label}**: {vm.description} Input: {vm.input.channels} x {vm.input.size} x {vm.input.size}, "
           f"{n_params:,} parameters.")
if depthwise_summary(vm.model):
    st.info(depthwise_summary(vm.model), icon="🧩")

# ---------------------------------------------------------------- input
sources = ["Sample photo", "Test digit", "Upload"]
if st.session_state.get("lv_last_model") != vm.key:  # another network: start from the input that suits it
    st.session_state["lv_last_model"] = vm.key
    if st.session_state.get("lv_source") != "Upload":
        st.session_state["lv_source"] = "Test digit" if vm.input.style == "digit" else "Sample photo"
source = st.radio("Image", sources, horizontal=True, key="lv_source",
                  help="Sample photos ship with scikit-learn and matplotlib; test digits come from mnist-5k.")
if source == "Sample photo":
    photo = st.selectbox("Sample photo", list(SAMPLE_PHOTOS), format_func=lambda k: SAMPLE_PHOTOS[k].label,
                         key="lv_sample")
    image_key, load = f"sample:{photo}", lambda: (sample_photo(photo), False)
    st.caption(f"From {SAMPLE_PHOTOS[photo].source}.")
elif source == "Test digit":
    index = int(st.number_input("Test digit number (mnist-5k test split)", 0, 499, 0, key="lv_digit"))
    digit, label = dataset_digit(index)
    image_key, load = f"digit:{index}", lambda: (digit, True)
else:
    upload = st.file_uploader("Your image (PNG, JPEG, WebP, BMP, GIF, TIFF; up to 25 MB)", type=IMAGE_TYPES,
                              key="lv_upload", max_upload_size=25,
                              help="A photo for the ImageNet models; a digit on paper for LeNet-5 (converted to "
                                   "MNIST style: white ink on black, centered in 28 x 28).")
    if upload is None:
        st.info("Upload an image to start, or pick a sample photo or a test digit.")
        st.stop()
    raw = upload.getvalue()
    image_key, load = hashlib.sha256(raw).hexdigest(), lambda: (load_image(raw, upload.name), False)

result = ready = None
with friendly_errors("Reading the image"):
    ready = prepared(vm.key, image_key, vm, load)
    input_key = hashlib.sha256(ready.tensor.numpy().tobytes()).hexdigest()  # same pixels = same cache entry
    result = analysis(vm.key, input_key, vm, ready.tensor)
if result is None:
    st.stop()

st.subheader("What the network receives")
cols = st.columns(max(4, len(ready.steps)))  # at least 4 columns: two steps do not fill the page
for col, step in zip(cols, ready.steps):
    col.markdown(f"**{step.title}**")
    col.image(step.image, width="stretch" if step.image.width >= 112 else "content")
    col.caption(step.caption)

# ---------------------------------------------------------------- prediction
top = result.top(5)
left, right = st.columns([3, 2])
bars = alt.Chart(top).mark_bar().encode(
    x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
    y=alt.Y("class:N", sort=None, title=None, axis=alt.Axis(labelLimit=260, labelOverlap=False)),
    tooltip=["rank", "class", alt.Tooltip("probability:Q", format=".2%")])
labels = bars.mark_text(align="left", dx=3).encode(text=alt.Text("probability:Q", format=".1%"))
left.altair_chart((bars + labels).properties(title="Top-5 predictions (softmax probabilities)",
                                             height=alt.Step(30)), width="stretch")
right.metric("Prediction", top["class"][0], f"{top['probability'][0]:.1%} probability", delta_color="off",
             delta_arrow="off")
if source == "Test digit":
    right.caption(f"True label of test digit {index}: **{label}**")
right.caption(f"{len(result.layers)} layer outputs recorded in {result.seconds:.2f} s (cached for this image).")

has_maps = bool(result.keys(maps_only=True))  # a fully-connected network (MLP) has no feature maps
NO_MAPS_TEXT = ("This network has no layer with spatial feature maps (it is fully connected: every layer "
                "sees the flattened image), so there are no feature maps to draw. Pick a CNN such as LeNet-5.")
tab_maps, tab_all, tab_filters, tab_cam, tab_stats = st.tabs(
    ["🗺️ Feature maps", "🎞️ All layers", "🧱 Filters", "🔥 What it looks at", "📊 Statistics"])

# ---------------------------------------------------------------- feature maps of one layer
with tab_maps, friendly_errors("Drawing the feature maps"):
    if not has_maps:
        st.info(NO_MAPS_TEXT, icon="ℹ️")
    else:
        c1, c2, c3, c4 = st.columns([3, 2, 2, 2])
        groups = ["all"] + [g for g in act.GROUPS if result.keys(g, maps_only=True)]
        group = c1.selectbox("Layer kind", groups, key=f"lv_group_{vm.key}",
                             help="conv = convolution outputs, activation = after ReLU/ReLU6/tanh, block = residual "
                                  "or MBConv block outputs, norm = batch norm.")
        layer_keys = result.keys(group, maps_only=True)
        default = act.default_layer(result)
        key = c1.selectbox("Layer", layer_keys, format_func=lambda k: result.layer(k).label,
                           key=f"lv_layer_{vm.key}_{group}",
                           index=layer_keys.index(default) if default in layer_keys else 0)
        layer = result.layer(key)
        count = min(layer.shape[0], c2.slider("Channels shown", 1, 64, 16, key="lv_count",
                                              help="The channels with the largest mean |activation| come first."))
        scale = c3.radio("Colour scale", ["shared", "per-map"], key="lv_scale",
                         help="shared: one scale for the whole layer, so maps compare; per-map: each map stretched to "
                              "its own range, so weak maps show their pattern too.")
        cmap = c4.selectbox("Colormap", ["viridis", "magma", "gray", "coolwarm"], key="lv_cmap")
        channels = act.strongest_channels(layer, count)
        grid = act.feature_grid(layer, channels, scale, cmap)
        st.image(grid,
                 caption=f"{layer.label}: {count} of {layer.shape[0]} channels, strongest first "
                         f"(values {layer.min:.2f} … {layer.max:.2f})")
        tile = 96 if layer.shape[0] <= 256 else 48
        st.download_button(f"⬇️ Download all {layer.shape[0]} channels as a PNG grid",  # drawn only when clicked
                           lambda: act.png_bytes(act.feature_grid(layer, None, scale, cmap, tile=tile)),
                           file_name=f"{vm.key}-{key.replace('#', '_')}.png", mime="image/png", key="lv_download")
        st.markdown("**One channel, large, next to the input**")
        pick = st.selectbox("Channel", [int(c) for c in layer.order], key=f"lv_channel_{vm.key}_{key}",
                            format_func=lambda c: f"ch {c} (mean |a| = {layer.strength[c]:.3f})")
        a, b, c = st.columns(3)
        a.image(enlarge(ready.view, 320), caption="network input", width="stretch")
        b.image(act.channel_image(layer, pick, scale=scale, cmap=cmap), caption=f"{key}, channel {pick}",
                width="stretch")
        own = layer.maps[pick].astype("float32")
        c.image(attr.overlay(ready.view, own - own.min(), 0.55, cmap, size=320), caption="the map over the input",
                width="stretch")

# ---------------------------------------------------------------- every layer at a glance
with tab_all, friendly_errors("Drawing the overview"):
    if not has_maps:
        st.info(NO_MAPS_TEXT, icon="ℹ️")
    else:
        strip_groups = [g for g in ("block", "all", "activation", "conv") if result.keys(g, maps_only=True)]
        strip_group = st.radio("Layers in the strip", strip_groups, horizontal=True, key=f"lv_strip_{vm.key}",
                               help="For deep networks, 'block' shows one tile per MBConv/residual block.")
        strip_keys = result.keys(strip_group, maps_only=True)
        strip = act.overview_tiles(result, strip_keys[:64])
        st.caption("The strongest channel of each layer, from the input side to the output side, each on its own "
                   "colour scale: the maps shrink while their number grows and what they respond to gets more abstract."
                   + (f" (First 64 of {len(strip_keys)} layers.)" if len(strip_keys) > 64 else ""))
        st.image([img for img, _ in strip], caption=[cap for _, cap in strip], width=120)

# ---------------------------------------------------------------- filters
with tab_filters, friendly_errors("Drawing the filters"):
    convs = act.conv_layers(vm.model)
    if not convs:
        st.info("This network has no convolution layers (it is fully connected), so it has no filters to show. "
                "Pick a CNN such as LeNet-5 to see learned filters.", icon="ℹ️")
    else:
        first_name, first = convs[0]
        st.markdown(f"**First layer `{first_name}`**: {first.out_channels} filters of {first.in_channels} x "
                    f"{first.kernel_size[0]} x {first.kernel_size[1]}, shown as "
                    f"{'RGB' if first.in_channels == 3 else 'grayscale'} tiles (gray/mid-colour = 0).")
        tiles = act.first_layer_filters(first)
        st.image(tiles)
        names = [n for n, _ in convs]
        conv_name = st.selectbox("Deeper layer", names, index=min(1, len(names) - 1), key=f"lv_conv_{vm.key}",
                                 format_func=lambda n: f"{n} · {dict(convs)[n].weight.shape[0]} filters"
                                 + (f" · groups = {dict(convs)[n].groups}" if dict(convs)[n].groups > 1 else ""))
        conv = dict(convs)[conv_name]
        if conv.groups == conv.in_channels > 1:
            grid = act.depthwise_filters(conv)
            st.image(grid, caption=f"{conv_name} is depthwise (groups = {conv.groups}): "
                     f"filter i is one {conv.kernel_size[0]}x{conv.kernel_size[1]} kernel that sees only "
                     "input channel i (red > 0, blue < 0; first 64 shown)")
        elif conv.kernel_size == (1, 1):
            st.image(act.pointwise_matrix(conv), caption=f"{conv_name}: a 1x1 convolution is a {conv.out_channels} x "
                     f"{conv.in_channels} matrix applied at every pixel (rows = output channels; red > 0, blue < 0)")
        else:
            out = st.number_input("Output channel", 0, conv.out_channels - 1, 0, key=f"lv_out_{vm.key}_{conv_name}")
            grid = act.kernel_slices(conv, int(out))
            st.image(grid, caption=f"{conv_name}, output channel {out}: one "
                     f"{conv.kernel_size[0]}x{conv.kernel_size[1]} kernel per input channel it sees "
                     "(red > 0, blue < 0)")

# ---------------------------------------------------------------- saliency and Grad-CAM
with tab_cam, friendly_errors("Computing the attributions"):
    st.markdown("**Saliency**: how much each input pixel changes the class score $y^c$. **Grad-CAM**: weight "
                "each feature map $A^k$ of a layer by the average gradient of $y^c$ over it.")
    st.latex(r"S_{ij} = \max_{\text{colour}}\left|\frac{\partial y^c}{\partial x_{ij}}\right| \qquad "
             r"\alpha_k^c = \frac{1}{Z}\sum_{i,j}\frac{\partial y^c}{\partial A^k_{ij}} \qquad "
             r"L^c_{\text{Grad-CAM}} = \mathrm{ReLU}\Big(\sum_k \alpha_k^c A^k\Big)")
    k1, k2 = st.columns(2)
    classes = list(range(len(result.probabilities)))
    cls = k1.selectbox("Class", classes, index=result.predicted, key=f"lv_class_{vm.key}_{image_key}",
                       format_func=lambda i: f"{result.class_name(i)} ({result.probabilities[i]:.1%})",
                       help="Default: the predicted class. Pick another to see what speaks for it.")
    cam_keys = [k for k in result.keys(maps_only=True) if result.layer(k).group != "linear"]
    cam_layer = None
    if cam_keys:
        cam_default = act.default_layer(result, for_cam=True)
        cam_layer = k2.selectbox("Grad-CAM layer", cam_keys, index=cam_keys.index(cam_default),
                                 key=f"lv_cam_{vm.key}", format_func=lambda k: result.layer(k).label,
                                 help="Deep layers: coarse but class-specific; early layers: sharp but generic.")
    sal, cam = attributions(vm.key, input_key, cam_layer, int(cls), vm, ready.tensor)
    a, b, c = st.columns(3)
    a.image(attr.heatmap_image(attr.robust_unit(sal)), caption="saliency |∂y/∂x|", width="stretch")
    b.image(attr.overlay(ready.view, attr.robust_unit(sal), 0.6, "inferno", size=320),
            caption="saliency over the input", width="stretch")
    if cam is None:
        c.info("Grad-CAM needs a layer with spatial feature maps, and this fully-connected network has none: "
               "only the saliency map applies.", icon="ℹ️")
    else:
        c.image(attr.overlay(ready.view, cam, 0.5, "jet", size=320), width="stretch",
                caption=f"Grad-CAM for '{result.class_name(int(cls))}' at {cam_layer} ({cam.shape[0]}x{cam.shape[1]})")

# ---------------------------------------------------------------- statistics
with tab_stats:
    frame = act.stats_frame(result)
    st.caption("Per layer: mean and standard deviation of the activations, and the fraction of exact zeros "
               "(what ReLU produces: a high fraction = sparse features; close to 1 = 'dead' units).")
    frame["position"] = range(len(frame))
    pick = alt.selection_point(fields=["group"], bind="legend")
    for column, stat, title in zip(st.columns(2), ["std", "zero_fraction"],
                                   ["standard deviation", "fraction of zeros"]):
        column.altair_chart(alt.Chart(frame, title=f"{title} per layer").mark_point(filled=True, size=40).encode(
            x=alt.X("position:Q", title="layer (execution order)"), y=alt.Y(f"{stat}:Q", title=title),
            color=alt.Color("group:N", title="layer kind"),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.1)),
            tooltip=["layer", "type", "output_shape", alt.Tooltip(f"{stat}:Q", format=".3f")]
        ).add_params(pick).properties(height=220), width="stretch", key=f"lv_stat_{stat}")
    number = st.column_config.NumberColumn(format="%.3f")
    st.dataframe(frame.drop(columns="position"), hide_index=True, height=360, width="stretch",
                 column_config={"mean": number, "std": number, "min": number, "max": number,
                                "zero_fraction": st.column_config.ProgressColumn("zeros", format="percent",
                                                                                 min_value=0.0, max_value=1.0)})
