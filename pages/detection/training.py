"""Detection page, part 3: train the detector live, checkpoints, and running it on your own image."""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
import torch
from PIL import Image

from cnn_core.data.images import load_image
from cnn_core.errors import BudgetExceeded, CheckpointError, ImageError, InvalidConfig
from cnn_core.export.detection import detection_bundle, detection_notebook
from cnn_core.vision.detect_train import DetectConfig, DetectionRun, detect, load_detector
from pages.common import links
from pages.common.export_buttons import bundle_downloads
from pages.detection.heads_and_scenes import draw_boxes
from pages.common.widgets import IMAGE_TYPES
from pages.common.live import run_live

from pages.common.widgets import IMAGE_UPLOAD_MB, checkpoint_upload_mb

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)


RUN = "det_run"  # session key: the DetectionRun (or a loaded model) of this session
FIXED_VAL = 6  # val scenes redrawn as the detector learns


def trained_model() -> torch.nn.Module | None:
    """The session's trained (or restored) detector, or None."""
    entry = st.session_state.get(RUN)
    return entry.model if entry is not None and entry.history else st.session_state.get("det_loaded")


def settings() -> DetectConfig:
    """Widgets -> DetectConfig."""
    c = ui.columns(6)
    # Lighter than DetectConfig's defaults (the benchmark's), so a first run answers quickly; raise them.
    epochs = c[0].number_input("Epochs", 1, 30, 4, key="dt_epochs")
    scenes = c[1].select_slider("Training scenes", [200, 500, 1000, 2000, 3000, 5000], 1000, key="dt_scenes")
    width = c[2].select_slider("Backbone width", [8, 16, 24, 32], DetectConfig.width, key="dt_width")
    lr = c[3].select_slider("Learning rate", [3e-4, 1e-3, 3e-3, 5e-3, 1e-2, 3e-2, 1.0], DetectConfig.lr, key="dt_lr")
    clutter = c[4].slider("Clutter", 0, 10, 0, key="dt_clutter")
    seed = c[5].number_input("Seed", 0, 10_000, 0, key="dt_seed")
    return DetectConfig(epochs=int(epochs), train_scenes=int(scenes), width=int(width), lr=float(lr),
                        clutter=int(clutter), seed=int(seed), val_scenes=200)


def curves(run: DetectionRun) -> tuple[alt.Chart, alt.Chart]:
    """Loss parts per step (smoothed) and held-out mAP per epoch."""
    steps = pd.DataFrame([{"step": r.step, "objectness": r.objectness, "box": r.box, "class": r.classes}
                          for r in run.history if r.kind == "step"])
    long = steps.melt("step", var_name="part", value_name="loss")
    long["loss"] = long.groupby("part")["loss"].transform(lambda s: s.rolling(10, min_periods=1).mean())
    loss = alt.Chart(long).mark_line().encode(x="step", y=alt.Y("loss", scale=alt.Scale(type="log")), color="part",
                                              tooltip=["step", "part", "loss"]).properties(height=240,
                                                                                           title="loss parts")
    epochs = pd.DataFrame([{"epoch": r.epoch, "mAP@0.5": r.val_map50, "mAP@[.5:.95]": r.val_map}
                           for r in run.history if r.kind == "epoch"])
    if epochs.empty:
        return loss, alt.Chart(pd.DataFrame({"epoch": [], "value": []})).mark_line()
    ap = alt.Chart(epochs.melt("epoch", var_name="metric")).mark_line(point=True).encode(
        x="epoch:Q", y=alt.Y("value", scale=alt.Scale(domain=[0, 1])), color="metric",
        tooltip=["epoch", "metric", "value"]).properties(height=240, title="held-out mAP")
    return loss, ap


def predictions(box: object, run: DetectionRun) -> None:
    """Curves and the detections on fixed val scenes, into a placeholder's container."""
    area = box.container()
    loss, ap = curves(run)
    c = area.columns(2)
    c[0].altair_chart(loss, width="stretch")
    c[1].altair_chart(ap, width="stretch")
    dets = detect(run.model, run.val.images[:FIXED_VAL], score_threshold=0.3)
    cols = area.columns(FIXED_VAL)
    for i, d in enumerate(dets):
        cols[i].image(draw_boxes(run.val.images[i, 0], d.boxes, [str(int(k)) for k in d.labels], scale=3),
                      caption=f"val {i}: {len(d)} found / {len(run.val.boxes[i])}", alt=f"val {i}: {len(d)} found / {len(run.val.boxes[i])}", width="stretch")


def train_section() -> None:
    """Start / Continue / Stop training, the live curves and predictions, checkpoint download and upload."""
    st.markdown("Train the dense detector on the generated scenes: every cell learns **objectness** (is an "
                "object's centre here?), the **box** (offsets and log-size) and the **class**. Same seed, same run.")
    config = settings()
    run: DetectionRun | None = st.session_state.get(RUN)
    c = ui.columns(3)
    start = c[0].button("▶ Train", type="primary", key="dt_start")
    more = c[1].button("⏩ Continue 2 epochs", key="dt_more")
    if more and (run is None or not run.history):
        st.info("Nothing to continue yet: press Train first.")
        more = False
    if start:
        try:
            run = DetectionRun(config)
        except (InvalidConfig, BudgetExceeded) as exc:
            st.error(str(exc))
            return
        st.session_state[RUN] = run
    if (start or more) and run is not None:
        total = run.step + (config.epochs if start else 2) * run.steps_per_epoch
        outcome = run_live(run.records(None if start else 2), "dt", label="Training the detector",
                           progress=lambda r: (r.step / total, f"epoch {r.epoch}, step {r.step} of {total}"),
                           draw=lambda _, box: predictions(box, run), urgent=lambda r: r.kind != "step",
                           stop_help="Stop now: the weights and the curves so far are kept.")
        if outcome.last is not None and outcome.last.kind == "diverged":
            st.error(outcome.last.message)
    if run is not None and run.history:
        predictions(ui.empty(), run)
        last = next((r for r in reversed(run.history) if r.kind == "epoch"), None)
        if last:
            st.success(f"Epoch {last.epoch}: held-out mAP@0.5 {last.val_map50:.3f}, mAP@[.5:.95] {last.val_map:.3f} "
                       f"after {last.seconds:.0f} s.")
        c[2].download_button("⬇ Checkpoint", run.checkpoint(), "digit-detector.pt", key="dt_download")
        export_section(run)
    upload_checkpoint()


def export_section(run: DetectionRun) -> None:
    """Download buttons for the trained run as a plain PyTorch bundle and notebook (generated when clicked)."""
    # the run's own config (the widgets may have changed since); a continued run trained more epochs than
    # planned, a stopped one is exported as its full planned run
    config, epochs = run.config, max(run.epoch, run.config.epochs)
    bundle_downloads(lambda: detection_bundle(config, "digit_detector", epochs),
                     lambda: detection_notebook(config, "digit_detector", epochs), "digit_detector",
                     "this detector's training", key="det_export")


def upload_checkpoint() -> None:
    """Restore a detector from a downloaded checkpoint (another model's checkpoint gets a message)."""
    file = st.file_uploader("Restore a detector checkpoint (.pt)", type=["pt", "pth"], key="dt_upload", max_upload_size=checkpoint_upload_mb())
    if file is None:
        return
    try:
        model, config, metrics = load_detector(file.getvalue())
    except CheckpointError as exc:
        st.error(str(exc))
        return
    st.session_state["det_loaded"] = model
    st.session_state.pop(RUN, None)
    st.success(f"Restored a detector (width {config.width}, {config.epochs} epochs"
               + (f", held-out mAP@0.5 {metrics['val_map50']:.3f}" if metrics.get("val_map50") is not None else "")
               + ").")


def own_image_section(model: torch.nn.Module | None) -> None:
    """Run the trained detector on an uploaded image of digits (dark ink on light paper is inverted)."""
    st.markdown("Upload a photo or scan of a few digits. It becomes a grey image whose sides are multiples of 8 "
                "(at most 256 px); light paper is inverted so that the ink is bright as in the scenes.")
    file = st.file_uploader("An image of digits", type=IMAGE_TYPES, key="dt_own", max_upload_size=IMAGE_UPLOAD_MB)
    if model is None:
        st.info("Train a detector first (or restore a checkpoint), then its boxes appear here.")
        return
    if file is None:
        return
    try:
        image = load_image(file.getvalue())
    except ImageError as exc:
        st.error(str(exc))
        return
    grey = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    scale = min(1.0, 256 / max(grey.shape))
    h, w = max(32, int(grey.shape[0] * scale) // 8 * 8), max(32, int(grey.shape[1] * scale) // 8 * 8)
    grey = np.asarray(Image.fromarray(grey, mode="F").resize((w, h), Image.BILINEAR))
    if np.median(grey) > 0.5:
        grey = 1.0 - grey
    x = torch.from_numpy(grey.copy())[None, None]
    conf = ui.slider("Confidence threshold ", 0.0, 1.0, 0.3, 0.05, key="dt_own_conf")
    dets = detect(model, x, score_threshold=conf)[0]
    st.image(draw_boxes(x[0, 0], dets.boxes, [f"{int(k)} {s:.2f}" for k, s in zip(dets.labels, dets.scores.tolist())],
                        scale=max(1, 512 // max(h, w))), caption=f"{w} x {h} input: {len(dets)} digit(s) found"
             if len(dets) else f"{w} x {h} input: no digits found at this threshold", alt=(f"{w} x {h} input: {len(dets)} digit(s) found"
             if len(dets) else f"{w} x {h} input: no digits found at this threshold"))
