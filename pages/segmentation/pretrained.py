"""torchvision's pretrained segmenters on the student's photo: from the cache, downloaded on request, or a message."""
from __future__ import annotations

import streamlit as st

from cnn_core.data.images import load_image
from cnn_core.data.samples import SAMPLE_PHOTOS, sample_photo
from cnn_core.training.zoo import WeightsUnavailable, download_weights
from cnn_core.vision import pretrained_segmenters as ps
from pages.common import links

from pages.common.errors import friendly_errors
from pages.common.live import admitted
from pages.common.widgets import IMAGE_TYPES, IMAGE_UPLOAD_MB

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)


@st.cache_resource(max_entries=1, show_spinner="Loading the segmenter...")
def shared_segmenter(key: str) -> ps.PretrainedSegmenter:
    """One loaded segmenter per server (read-only; never trained or re-moded)."""
    return ps.load_segmenter(key)


def pretrained_section() -> None:
    """Pick a segmenter and a photo; paint every pixel's VOC class over it, with a colour legend."""
    key = ui.radio("Segmenter", list(ps.SEGMENTERS), horizontal=True, key="pseg_model",
                   format_func=lambda k: ps.SEGMENTERS[k].label)
    st.caption("Pretrained on COCO images with the 21 Pascal VOC classes (person, car, dog, ...): the same idea as the "
               "U-Net, at scale.")
    entry = ps.SEGMENTERS[key]
    if not ps.cached(key):
        st.info(f"{entry.label}: its weights ({entry.megabytes:.0f} MB) are not on this server yet.")
        if st.button(f"Download {entry.megabytes:.0f} MB", key="pseg_download"):
            try:
                with admitted("Downloading"):
                    download_weights(entry)
                st.rerun()
            except WeightsUnavailable as exc:
                st.error(str(exc))
        return
    upload = st.file_uploader("Your photo", type=IMAGE_TYPES, key="pseg_upload", max_upload_size=IMAGE_UPLOAD_MB)
    sample = ui.selectbox("... or a sample photo", list(SAMPLE_PHOTOS), key="pseg_sample")
    with friendly_errors("Segmenting the photo"):
        image = load_image(upload.getvalue(), upload.name) if upload is not None else sample_photo(sample)
        segmenter = shared_segmenter(key)
        with admitted("Segmenting"):
            mask, shares = ps.segment(segmenter, image)
        palette = ps.voc_palette()
        left, right = ui.columns([2, 1])
        source = "your upload" if upload is not None else SAMPLE_PHOTOS[sample].label
        left.image(ps.overlay(image, mask, palette), caption=f"{entry.label} on {source}: every pixel's class", alt=f"{entry.label} on {source}: every pixel's class")
        for name, share in shares.items():
            colour = tuple(int(v) for v in palette[segmenter.class_names.index(name)])
            right.markdown(f"<span style='color:rgb{colour}'>■</span> {name}: {share:.1%}", unsafe_allow_html=True)
