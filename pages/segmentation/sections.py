"""The Segmentation page's sections: data, the U-Net with and without skips trained live, results, why a pixel."""
from __future__ import annotations

from dataclasses import replace

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
import torch
from PIL import Image

from cnn_core import RunStatus
from cnn_core.data.images import load_image
from cnn_core.export.segmentation import segmentation_bundle, segmentation_notebook
from cnn_core.inspect.summary import layer_summary
from cnn_core.vision import segmentation as seg
from cnn_core.vision.scenes import SceneConfig
from pages.common import links

from pages.common.charts.palette import run_encodings
from pages.common.errors import friendly_errors
from pages.common.export_buttons import bundle_downloads
from pages.common.live.comparison import Experiment, run_experiment
from pages.common.widgets import IMAGE_TYPES, IMAGE_UPLOAD_MB, seed_input

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)


EXPERIMENT = "seg_experiment"  # session state: the comparison of the two networks (records, final weights)
STATE = "seg_runs"  # session state: dict label -> TrainedSegmenter, the experiment's networks for the views
LABELS = {True: "U-Net (skips on)", False: "Encoder-decoder (skips off)"}
SHOW = 6            # fixed validation scenes redrawn while the networks learn


def enlarge(rgb: np.ndarray, side: int = 192) -> Image.Image:
    """A small picture scaled up with nearest neighbour (pixels stay visible), its longer side `side`."""
    h, w = rgb.shape[:2]
    scale = side / max(h, w)
    return Image.fromarray(rgb).resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.NEAREST)


def grey(image: torch.Tensor) -> np.ndarray:
    """1 x H x W in [0, 1] -> H x W x 3 uint8."""
    plane = (image[0].clamp(0, 1) * 255).byte().numpy()
    return np.stack([plane] * 3, axis=-1)


def config_widgets() -> seg.SegConfig:
    """The run's settings in a row. Defaults: digit / background, 500 scenes, 3 epochs: both networks train in
    ~15 s on 2 cores and the skips' sharp borders show (U-Net IoU ~0.97 vs ~0.59 without; benchmarks/segmentation.py).
    The 10 digit classes take ~10 epochs of 1000 scenes (mIoU ~0.8): the network must also learn what each digit is."""
    cols = ui.columns(5)
    mode = cols[0].selectbox("Classes", ("foreground", "digits"), key="seg_mode",
                             format_func=lambda m: "background + 10 digits" if m == "digits" else "digit / background")
    loss = cols[1].selectbox("Loss", seg.LOSSES, seg.LOSSES.index(seg.SegConfig.loss), key="seg_loss")
    epochs = int(cols[2].number_input("Epochs", 1, 30, 3, key="seg_epochs"))
    scenes = int(cols[3].select_slider("Training scenes", [250, 500, 1000, 2000, 4000], 500, key="seg_scenes"))
    seed = seed_input("seg_seed", cols[4])
    # background is 93 % of the pixels: down-weight it only when it competes with 10 digit classes
    return seg.SegConfig(mode=mode, loss=loss, epochs=epochs, train_scenes=scenes, seed=seed,
                         background_weight=0.1 if mode == "digits" else 1.0)


def data_section(config: seg.SegConfig) -> None:
    """Training scenes with their per-pixel masks, and the colour legend."""
    scenes = seg.cached_scenes(config.scenes("val")).subset(range(SHOW))
    masks = seg.target_masks(scenes, config.mode)
    cols = ui.columns(SHOW)
    for i, col in enumerate(cols):
        col.image(enlarge(grey(scenes.images[i]), 128), caption="scene", alt="scene")
        col.image(enlarge(seg.mask_to_rgb(masks[i]), 128), caption="mask (target)", alt="mask (target)")
    legend = " ".join(f"<span style='color:rgb{c}'>■</span> {name}" for c, name in
                      zip(seg.MASK_PALETTE, seg.class_names(config.mode)))
    st.markdown(legend, unsafe_allow_html=True)  # fixed class names only, no user text


def architecture_section(config: seg.SegConfig) -> None:
    """The per-layer table of the U-Net and the parameter counts of both variants."""
    with ui.expander("The two networks, layer by layer"):
        for skips in (True, False):
            model = replace(config, skips=skips).build()
            table = layer_summary(model, (1, config.canvas, config.canvas))
            st.markdown(f"**{LABELS[skips]}**: {sum(p.numel() for p in model.parameters()):,} parameters")
            st.dataframe(table, width="stretch", height=220, hide_index=True)


def pair(config: seg.SegConfig) -> dict[str, seg.SegConfig]:
    """The comparison: the config with skips on and off, labelled."""
    return {LABELS[skips]: replace(config, skips=skips) for skips in (True, False)}


def trained_networks(experiment: Experiment) -> dict[str, seg.TrainedSegmenter]:
    """The experiment's networks with weights (finished, cached, or stopped part-way), by label."""
    return {label: seg.trained_segmenter(config, experiment.states[label], experiment.histories.get(label, []))
            for label, config in experiment.configs.items() if label in experiment.states}


def live_view(experiment: Experiment, box) -> None:
    """While the networks train here: their predictions so far on the fixed validation scenes."""
    if experiment.runs:
        predictions_view(experiment.runs, box)


def predictions_view(runs: dict[str, seg.SegmentationRun | seg.TrainedSegmenter], box) -> None:
    """The fixed validation scenes: truth, then each network's predicted mask."""
    first = next(iter(runs.values()))
    shown = min(SHOW, len(first.val))
    scenes = first.val.subset(range(shown))
    truth = seg.target_masks(scenes, first.config.mode)
    with box.container():
        rows = [("truth", truth)] + [(label, seg.predict_masks(run.model, scenes.images)) for label, run in runs.items()]
        for label, masks in rows:
            cols = ui.columns(shown + 1)
            cols[0].markdown(f"**{label}**")
            for i in range(shown):
                cols[i + 1].image(enlarge(seg.mask_to_rgb(masks[i]), 96), alt=f"{label}: mask of scene {i}")


def epoch_frame(runs: dict[str, seg.TrainedSegmenter]) -> pd.DataFrame:
    """One row per run and epoch: mIoU, boundary accuracy, pixel accuracy, validation loss."""
    rows = [{"run": label, "epoch": r.epoch, "mIoU (digits)": r.miou, "boundary accuracy": r.boundary_acc,
             "pixel accuracy": r.pixel_acc, "val loss": r.val_loss}
            for label, run in runs.items() for r in run.history if r.kind == "epoch"]
    return pd.DataFrame(rows)


def train_section(config: seg.SegConfig) -> None:
    """Train both variants side by side (same seed, same scenes), live."""
    left, right = ui.columns([1, 3])
    start = left.button("▶ Train both", type="primary", key="seg_train")
    right.caption("Same seed, same scenes, same everything: the only difference is the skip connections.")
    box = st.container(key="seg_predictions").empty()  # the key: playground.py keeps this grid two columns on phones
    # computed by an executor through experiments.compare, priced once, kept in the run cache like pages 5-7's
    experiment = run_experiment(pair(config), EXPERIMENT, start, live_draw=live_view)
    if experiment is not None:
        st.session_state[STATE] = trained_networks(experiment)
        if experiment.status == RunStatus.STOPPED:
            st.warning("Stopped: showing what the networks learned before you pressed Stop.")
    runs = st.session_state.get(STATE)
    if runs:
        predictions_view(runs, box)
        results_section(runs)
        configs = {label: run.config for label, run in runs.items()}  # the trained pair: the export retrains it
        bundle_downloads(lambda: segmentation_bundle(configs, "unet_segmenter"),
                         lambda: segmentation_notebook(configs, "unet_segmenter"), "unet_segmenter",
                         "this U-Net comparison", key="seg_export")


def results_section(runs: dict[str, seg.TrainedSegmenter]) -> None:
    """mIoU and boundary accuracy per epoch for both, and the final per-class IoU."""
    frame = epoch_frame(runs)
    if frame.empty:
        return
    last = frame.groupby("run").tail(1).set_index("run")
    cols = ui.columns(len(last))
    for col, (label, row) in zip(cols, last.iterrows()):
        col.metric(f"{label}: mIoU", f"{row['mIoU (digits)']:.3f}", help="Mean IoU over the 10 digit classes.")
        col.metric("boundary accuracy (2 px band)", f"{row['boundary accuracy']:.3f}")
    st.altair_chart(alt.Chart(frame, title="Validation mIoU (digits) per epoch").mark_line(point=True).encode(
        x=alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1)),
        y=alt.Y("mIoU (digits):Q", title="mIoU (digits)", scale=alt.Scale(domain=[0, 1])),
        **run_encodings("run", list(runs)), tooltip=["run", "epoch", alt.Tooltip("mIoU (digits):Q", format=".3f")],
    ).properties(height=220, autosize=alt.AutoSizeParams(type="fit-x", contains="padding")), width="stretch")
    names = seg.class_names(next(iter(runs.values())).config.mode)
    table = {label: [r.class_iou for r in run.history if r.kind == "epoch"][-1] for label, run in runs.items()
             if any(r.kind == "epoch" for r in run.history)}
    st.dataframe(pd.DataFrame(table, index=list(names)).T.style.format("{:.3f}"), width="stretch")


def why_section(runs: dict[str, seg.TrainedSegmenter]) -> None:
    """Grad-CAM for a class and the effective receptive field of one output pixel."""
    label = ui.radio("Network", list(runs), horizontal=True, key="seg_why_run")
    run = runs[label]
    index = int(ui.slider("Validation scene", 0, len(run.val) - 1, 0, key="seg_why_scene"))
    image = run.val.images[index:index + 1]
    names = seg.class_names(run.config.mode)
    cls = ui.selectbox("Class", range(1, len(names)), format_func=lambda k: names[k], key="seg_why_class")
    side = run.config.canvas
    row = int(ui.slider("Output pixel row", 0, side - 1, side // 2, key="seg_why_row"))
    col = int(ui.slider("Output pixel column", 0, side - 1, side // 2, key="seg_why_col"))
    cam, pixels = seg.class_gradcam(run.model, image, cls)
    erf = seg.pixel_receptive_field(run.model, image, row, col)
    view = ui.columns(3)
    view[0].image(enlarge(grey(image[0]), 224), caption="input", alt="input")
    heat = (np.stack([cam.numpy(), np.zeros_like(cam.numpy()), 1 - cam.numpy()], -1) * 255).astype(np.uint8)
    view[1].image(enlarge(heat, 224), caption=f"Grad-CAM for '{names[cls]}' ({pixels} pixels predicted)", alt=f"Grad-CAM for '{names[cls]}' ({pixels} pixels predicted)")
    spot = (erf.numpy() ** 0.5 * 255).astype(np.uint8)
    view[2].image(enlarge(np.stack([spot, spot // 2, 0 * spot], -1), 224),
                  caption=f"|d logit / d input| of pixel ({row}, {col})", alt=f"|d logit / d input| of pixel ({row}, {col})")
    st.caption(f"The theoretical receptive field of a {run.config.depth}-level U-Net output pixel is up to "
               f"{seg.theoretical_receptive_field(run.config.depth)} px wide (it differs a little from pixel to pixel "
               "after the transposed convolutions); the bright part is what it really uses.")


def larger_scene_section(runs: dict[str, seg.TrainedSegmenter]) -> None:
    """Fully convolutional = any input size: a 128 x 128 scene, or the student's own upload."""
    run = runs[LABELS[True]] if LABELS[True] in runs else next(iter(runs.values()))
    upload = st.file_uploader("Or upload an image of a few digits (white on black or black on white)",
                              type=IMAGE_TYPES, key="seg_upload", max_upload_size=IMAGE_UPLOAD_MB)
    with friendly_errors("Segmenting the image"):
        if upload is not None:
            picture = load_image(upload.getvalue(), upload.name).convert("L")
            picture.thumbnail((192, 192))
            pixels = torch.from_numpy(np.asarray(picture, dtype=np.float32) / 255.0)
            if pixels.mean() > 0.5:
                pixels = 1 - pixels  # dark ink on white paper -> white ink on black, like the scenes
            image, note = seg.fit_to_network(pixels[None, None], run.config.depth)
            st.caption(f"Your image: {picture.width} x {picture.height} pixels (grey, ink made white).")
            if note:
                st.info(note)
        else:
            big = seg.cached_scenes(SceneConfig(split="test", count=1, seed=7, canvas=128, max_digits=10))
            image = big.images[:1]
        mask = seg.predict_masks(run.model, image)[0]
        cols = ui.columns(2)
        cols[0].image(enlarge(grey(image[0]), 320), caption=f"input {image.shape[-2]} x {image.shape[-1]}", alt=f"input {image.shape[-2]} x {image.shape[-1]}")
        cols[1].image(enlarge(seg.mask_to_rgb(mask), 320), caption="predicted mask (trained on 64 x 64)", alt="predicted mask (trained on 64 x 64)")
