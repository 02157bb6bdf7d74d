"""Detection page, part 4: MTCNN on a photo (pyramid, P-Net maps, boxes per stage, landmarks), torchvision detectors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
import torch
from PIL import Image, ImageDraw

from cnn_core.data.images import load_image
from cnn_core.data.samples import sample_photo
from cnn_core.errors import ImageError
from cnn_core.training.zoo import WeightsUnavailable
from cnn_core.vision import pretrained
from cnn_core.vision.mtcnn import WeightsMissing, detect_faces, load_nets
from pages.common import links
from pages.common.wording import plural
from pages.detection.heads_and_scenes import draw_boxes
from pages.common.widgets import IMAGE_TYPES

from pages.common.widgets import IMAGE_UPLOAD_MB

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)


MAX_SIDE = 1024  # photos are shrunk to at most this side before MTCNN (time grows with the pixels)


@st.cache_resource(show_spinner="Loading MTCNN's three networks ...")
def mtcnn_nets() -> tuple:
    """P/R/O-Net with the wheel's weights (shared, read-only, eval mode)."""
    return load_nets()


def photo_picker() -> Image.Image | None:
    """The sample photo of Grace Hopper, or an upload (bad files get a message)."""
    # One key for both sections (only one is drawn per run): the photo stays when the student switches.
    file = st.file_uploader("Your photo (else the sample photo of Grace Hopper)", type=IMAGE_TYPES, key="mt_photo", max_upload_size=IMAGE_UPLOAD_MB)
    try:
        image = load_image(file.getvalue()) if file is not None else sample_photo("grace_hopper")
    except ImageError as exc:
        st.error(str(exc))
        return None
    image = image.convert("RGB")
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE))
        st.caption(f"Shrunk to {image.width} x {image.height} for speed.")
    return image


def mtcnn_section() -> None:
    """The cascade step by step on a photo."""
    st.markdown("**MTCNN** is three small CNNs. **P-Net** is fully convolutional: on every level of an image "
                "pyramid it is a 12 x 12 sliding window (stride 2) that scores 'face?'; its candidates go through "
                "NMS, **R-Net** re-scores 24 x 24 crops, **O-Net** 48 x 48 crops and adds five landmarks.")
    try:
        nets = mtcnn_nets()
    except WeightsMissing as exc:
        st.warning(str(exc))
        return
    photo = photo_picker()
    if photo is None:
        return
    c = ui.columns(4)
    min_face = c[0].slider("Smallest face (px)", 12, 200, 20, key="mt_min")
    t1 = c[1].slider("P-Net threshold", 0.0, 1.0, 0.6, 0.05, key="mt_t1")
    t2 = c[2].slider("R-Net threshold", 0.0, 1.0, 0.7, 0.05, key="mt_t2")
    t3 = c[3].slider("O-Net threshold", 0.0, 1.0, 0.7, 0.05, key="mt_t3")
    result = detect_faces(nets, np.asarray(photo), min_face=min_face, thresholds=(t1, t2, t3))
    st.caption(f"{len(result.scales)} pyramid levels (factor 0.709), {result.seconds * 1e3:.0f} ms: "
               + ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in result.stage_seconds.items()))
    level = ui.slider("Pyramid level", 0, max(0, len(result.scales) - 1), min(2, len(result.scales) - 1), key="mt_lv") \
        if len(result.scales) > 1 else 0
    left, right = ui.columns(2)
    if result.pnet_maps:
        prob = result.pnet_maps[level]
        heat = Image.fromarray((prob.numpy() * 255).astype(np.uint8)).resize(photo.size, Image.NEAREST)
        left.image(heat, caption=f"P-Net face probability at scale {result.scales[level]:.3f}: a {tuple(prob.shape)} "
                   f"map = one 12 x 12 window per cell", alt=(f"P-Net face probability at scale {result.scales[level]:.3f}: a {tuple(prob.shape)} "
                   f"map = one 12 x 12 window per cell"), width="stretch")
    stage_names = [s.name for s in result.stages]
    stage = right.selectbox("Boxes at stage", stage_names, len(stage_names) - 1, key="mt_stage")
    chosen = result.stages[stage_names.index(stage)]
    drawn = draw_boxes(photo, chosen.boxes[:300], scale=1, colors=["#3cb44b"], width=2)
    if stage == "Faces":
        pen = ImageDraw.Draw(drawn)
        for x, y in result.landmarks.reshape(-1, 2).tolist():
            pen.ellipse([x - 3, y - 3, x + 3, y + 3], fill="#ffe119")
    right.image(drawn, caption=f"{plural(len(chosen.scores), 'box', 'boxes')} (green"
                + (", yellow dots: eyes, nose and mouth corners" if stage == "Faces" else "") + f"): {chosen.note}", alt=(f"{plural(len(chosen.scores), 'box', 'boxes')} (green"
                + (", yellow dots: eyes, nose and mouth corners" if stage == "Faces" else "") + f"): {chosen.note}"),
                width="stretch")
    st.dataframe(pd.DataFrame([{name: len(s.scores) for name, s in zip(stage_names, result.stages)}]),
                 hide_index=True)
    if len(result.faces.scores) == 0:
        st.info("No face found in this photo at these thresholds (an honest empty result).")


@st.cache_resource(show_spinner="Loading the detector ...", max_entries=1)
def torchvision_detector(key: str) -> tuple:
    """A torchvision detector from the cache (shared, read-only)."""
    return pretrained.load(key)


def torchvision_section() -> None:
    """SSDlite / Faster R-CNN on a photo when the weights are cached; download on request, offline message else."""
    key = ui.radio("COCO detector", list(pretrained.DETECTORS), horizontal=True, key="tv_key",
                   format_func=lambda k: pretrained.DETECTORS[k].label)
    entry = pretrained.DETECTORS[key]
    if not pretrained.is_cached(key):
        st.info(f"{entry.label} ({entry.megabytes:.0f} MB) is not in the torch hub cache.")
        if st.button(f"Download {entry.label}", key="tv_download"):
            try:
                with st.spinner("Downloading ..."):
                    pretrained.download(key)
            except WeightsUnavailable as exc:
                st.warning(str(exc))
                return
        else:
            return
    try:
        model, classes = torchvision_detector(key)
    except WeightsUnavailable as exc:
        st.warning(str(exc))
        return
    photo = photo_picker()
    if photo is None:
        return
    conf = ui.slider("Score threshold", 0.0, 1.0, 0.5, 0.05, key="tv_conf")
    x = torch.from_numpy(np.asarray(photo, dtype=np.float32) / 255).permute(2, 0, 1)
    dets = pretrained.run_detector(model, x, conf)
    names = [f"{classes[int(k)]} {s:.2f}" for k, s in zip(dets.labels, dets.scores.tolist())]
    st.image(draw_boxes(photo, dets.boxes, names, scale=1), caption=f"{plural(len(dets), 'object')}: label = COCO class and score; the colours only tell the boxes apart", alt=f"{plural(len(dets), 'object')}: label = COCO class and score; the colours only tell the boxes apart",
             width="stretch")
