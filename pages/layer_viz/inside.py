"""Layer Visualization tabs for 'inside' a network: effective receptive fields and feature visualization."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict

import streamlit as st
import torch

from cnn_core.errors import InvalidConfig
from cnn_core.inspect import receptive_field as rf
from cnn_core.inspect.feature_maps import tile_grid
from cnn_core.inspect.feature_vis import ChannelPicture, FeatureVisConfig, visualize_channels
from pages.common import links
from pages.common.wording import plural
from pages.common.errors import friendly_errors

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)

GRID = 9           # a 3 x 3 grid of channels
BIG_INPUT = 96     # models with larger inputs are optimized at FAST_SIDE px, on request (seconds, not instant)
FAST_SIDE = 128


@st.cache_resource(max_entries=4, show_spinner="Building an untrained copy (same layers, fresh random weights)...")
def untrained(model_key: str, _model: torch.nn.Module) -> torch.nn.Module:
    """The same architecture re-initialized (seed 0), shared read-only by every session."""
    return rf.untrained_copy(_model, seed=0)


@st.cache_data(max_entries=32, show_spinner=False)
def geometry(model_key: str, layer: str, _vm) -> rf.FieldGeometry:
    """The layer's theoretical field arithmetic (the same for every input and for the untrained copy)."""
    return rf.theoretical_geometry(_vm.model, (_vm.input.channels, _vm.input.size, _vm.input.size), layer)


@st.cache_data(max_entries=64, show_spinner=False)
def field(model_key: str, input_key: str, layer: str, unit: tuple[int, int, int], trained: bool, _vm, _x):
    """The effective field of one unit of the trained or the untrained network (cached per unit and input)."""
    model = _vm.model if trained else untrained(_vm.key, _vm.model)
    return rf.effective_field(model, _x, layer, *unit, geometry=geometry(model_key, layer, _vm))


def default_index(names: list[str]) -> int:
    """A layer a third of the way in (LeNet-5: its second conv; EfficientNet: a mid-sized field)."""
    return min(max(1, len(names) // 3), len(names) - 1)


def no_conv_message(model: torch.nn.Module) -> str | None:
    """The message for a network without conv layers, or None."""
    try:
        rf.conv_layer_names(model)
    except InvalidConfig as exc:
        return str(exc)
    return None


def erf_tab(vm, ready, input_key: str) -> None:
    """Pick a unit of a conv layer; its input gradient over the image beside the theoretical square."""
    st.markdown("Which input pixels does **one unit** of a conv layer depend on? The cyan square is its "
                "**theoretical receptive field** (every pixel that can reach it, from the layer table); the heat "
                "map is the **effective** one: $|\\partial y_{c,i,j} / \\partial x|$ for this image. Pixels near the "
                "centre matter far more than the edge, so the effective field is smaller (Luo et al. 2016, who also "
                "found it grows with training in deep networks: compare the trained and the untrained network).")
    message = no_conv_message(vm.model)
    if message:
        st.info(message, icon="ℹ️")
        return
    names = rf.conv_layer_names(vm.model)
    c1, c2, c3, c4 = ui.columns([2, 1, 1, 1])
    layer = c1.selectbox("Conv layer", names, index=default_index(names), key=f"erf_layer_{vm.key}")
    with friendly_errors("The receptive field"):
        first = field(vm.key, input_key, layer, (0, None, None), True, vm, ready.tensor)
        channels, height, width = first.output_shape
        channel = int(c2.number_input("Channel", 0, channels - 1, 0, key=f"erf_ch_{vm.key}_{layer}"))
        row = int(c3.number_input("Row", 0, height - 1, height // 2, key=f"erf_row_{vm.key}_{layer}"))
        col = int(c4.number_input("Column", 0, width - 1, width // 2, key=f"erf_col_{vm.key}_{layer}"))
        left, right = ui.columns(2)
        for column, trained in ((left, True), (right, False)):
            unit = field(vm.key, input_key, layer, (channel, row, col), trained, vm, ready.tensor)
            side = unit.theoretical.size[0]
            column.image(rf.field_picture(ready.view, unit), width="stretch",
                         caption=f"{'trained' if trained else 'untrained (same layers, random weights)'}: "
                                 f"{layer} unit (ch {channel}, {row}, {col}) of {channels} x {height} x {width}", alt=(f"{'trained' if trained else 'untrained (same layers, random weights)'}: "
                                 f"{layer} unit (ch {channel}, {row}, {col}) of {channels} x {height} x {width}"))
            column.markdown(f"90 % of the gradient lies within **{unit.effective_side(0.9)} px** "
                            f"(theoretical field {side} x {side} px)")
        st.caption(f"One backward pass per unit ({unit.seconds * 1000:.0f} ms here). The square is followed along "
                   "every path of the network (shortcuts included), so the gradient is exactly zero outside it: a "
                   "unit cannot see beyond its receptive field.")


class PictureCache:
    """A bounded, thread-safe LRU of finished channel pictures, keyed by (model, layer, channel, seed, config)."""

    def __init__(self, max_entries: int = 512) -> None:
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries

    def get(self, key: tuple) -> ChannelPicture | None:
        """A cached picture (frozen: safe to share) or None."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
            return self._items.get(key)

    def put(self, key: tuple, picture: ChannelPicture) -> None:
        """Store a picture, evicting the oldest beyond the bound."""
        with self._lock:
            self._items[key] = picture
            while len(self._items) > self._max:
                self._items.popitem(last=False)


@st.cache_resource
def picture_cache() -> PictureCache:
    """The process-wide cache of feature-visualization pictures."""
    return PictureCache()


def channel_pictures(vm, layer: str, channels: list[int], config: FeatureVisConfig) -> list[ChannelPicture]:
    """Pictures for the channels: cached ones read back, the missing ones optimized together in one batch."""
    cache = picture_cache()
    keys = {c: (vm.key, layer, c, config.seed, config) for c in channels}
    missing = [c for c in channels if cache.get(keys[c]) is None]
    if missing:
        shape = (vm.input.channels, vm.input.size, vm.input.size)
        for picture in visualize_channels(vm.model, layer, missing, shape, vm.input.mean, vm.input.std, config):
            cache.put(keys[picture.channel], picture)
    return [cache.get(keys[c]) for c in channels]


def feature_vis_tab(vm) -> None:
    """A 3 x 3 grid: for nine channels of a conv layer, the input that makes each fire most."""
    st.markdown("**What each filter wants.** Start from gray noise and change the *image* (not the weights) by "
                "gradient ascent until one channel's mean activation is as large as it gets. Random shifts of a few "
                "pixels and a light blur every few steps keep the picture readable (without them, ascent finds "
                "high-frequency noise that also excites the channel).")
    message = no_conv_message(vm.model)
    if message:
        st.info(message.replace("receptive fields and feature visualization need one",
                                "feature visualization needs one"), icon="ℹ️")
        return
    names = rf.conv_layer_names(vm.model)
    c1, c2, c3 = ui.columns([2, 1, 1])
    layer = c1.selectbox("Conv layer", names, index=default_index(names), key=f"fv_layer_{vm.key}")
    out_channels = vm.model.get_submodule(layer).out_channels
    first = int(c2.number_input("First channel", 0, max(0, out_channels - 1), 0, step=GRID,
                                key=f"fv_first_{vm.key}_{layer}"))
    seed = int(c3.number_input("Seed", 0, 10_000, 0, key="fv_seed", help="The starting noise and the shifts."))
    channels = list(range(first, min(out_channels, first + GRID)))
    big = vm.input.size > BIG_INPUT
    config = (FeatureVisConfig(steps=40, lr=0.05, size=FAST_SIDE, seed=seed) if big
              else FeatureVisConfig(steps=128, seed=seed))
    cache = picture_cache()
    ready = all(cache.get((vm.key, layer, c, seed, config)) is not None for c in channels)
    if big and not ready and not st.button(f"Optimize {plural(len(channels), 'input')} ({FAST_SIDE} x {FAST_SIDE} px, "
                                           "about 5-15 s)", key="fv_run", type="primary"):
        st.caption("A large network takes seconds per grid: pictures are kept for every (layer, channel, seed).")
        return
    with friendly_errors("Feature visualization"), st.spinner("Optimizing the inputs..."):
        start = time.perf_counter()
        pictures = channel_pictures(vm, layer, channels, config)
        seconds = time.perf_counter() - start
        # A best mean activation <= 0: ascent found no input this channel responds to (its ReLU would stay 0).
        silent = [p.channel for p in pictures if p.activation <= 0]
        labels = [f"ch {p.channel}: {p.activation:.2f}" + (" (never fires)" if p.activation <= 0 else "")
                  for p in pictures]
        st.image(tile_grid([p.image for p in pictures], labels,
                           tile=160 if len(pictures) > 1 else 240, columns=3), width=520,
                 caption=f"{layer}, channels {channels[0]}-{channels[-1]} of {out_channels}: the optimized input of "
                         "each, labelled with the channel's mean activation on it "
                         f"({config.steps} steps; {seconds:.1f} s, cached per layer, channel and seed)", alt=(f"{layer}, channels {channels[0]}-{channels[-1]} of {out_channels}: the optimized input of "
                         "each, labelled with the channel's mean activation on it "
                         f"({config.steps} steps; {seconds:.1f} s, cached per layer, channel and seed)"))
        if silent:
            st.warning(f"Channel{'s' if len(silent) > 1 else ''} {', '.join(map(str, silent))}: the best mean "
                       "activation gradient ascent could reach is 0 or below, so no input makes "
                       f"{'these channels' if len(silent) > 1 else 'this channel'} fire. The picture is not "
                       "something the filter learned to look for: it is the starting noise pushed toward "
                       "\"less negative\" (a dead or always-negative channel).", icon="⚠️")
        start_mean = sum(p.start_activation for p in pictures) / len(pictures)
        st.caption(f"On the starting noise the same channels averaged {start_mean:.2f}. Early layers want edges and "
                   "stripes at one orientation; deeper layers want larger strokes and parts of digits or objects.")
