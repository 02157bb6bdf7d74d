"""From classification to localization to detection: one backbone, three heads, boxes, a live detector, MTCNN."""
import streamlit as st

from pages.common import lessons, links
from pages.common.live import drawn_in_turns
from pages.detection.boxes import scores_to_boxes_section
from pages.detection.faces import mtcnn_section, torchvision_section
from pages.detection.training import own_image_section, train_section, trained_model
from pages.detection.heads_and_scenes import heads_section, scenes_section, sliding_section
from pages.common.errors import friendly_errors

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)


SECTIONS = {
    "Three heads": ("One backbone, three heads", heads_section, True),
    "Scenes": ("Scenes of real digits", scenes_section, False),
    "Sliding vs FCN": ("Sliding window vs fully convolutional", sliding_section, False),
    "Scores to boxes": ("IoU, anchors, threshold, NMS, precision-recall and AP", scores_to_boxes_section, True),
    "Train the detector": ("Train the detector live", train_section, False),
    "Faces (MTCNN)": ("A real pretrained cascade: MTCNN finds faces", mtcnn_section, False),
    "Your image": ("Your own image", None, True),
    "COCO detectors": ("torchvision's COCO detectors", torchvision_section, False),
}


@drawn_in_turns
def main() -> None:
    """Pick a section of the detection story and draw it."""
    st.set_page_config(page_title="Detection", page_icon="🎯", layout="wide")
    links.start_page()
    st.title("🎯 Localization and detection")
    st.markdown("The lecture's *CNNs for computer vision tasks*: the same CNN answers **what** (classification), "
                "**what and where** (localization: 4 more numbers) and **what, where and how many** (detection: a "
                "prediction per grid cell, then thresholds and non-maximum suppression). Everything here runs offline "
                "on scenes made of real MNIST digits.")
    lessons.exercise_panel("10_Detection.py")

    choice = ui.radio("Section", list(SECTIONS), horizontal=True, key="det_section", label_visibility="collapsed")
    title, section, needs_model = SECTIONS[choice]
    st.subheader(title)
    with friendly_errors(title):
        if choice == "Your image":
            own_image_section(trained_model())
        elif needs_model:
            section(trained_model())
        else:
            section()


main()
links.finish_page()
