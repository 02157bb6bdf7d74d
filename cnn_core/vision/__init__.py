"""Vision tasks beyond classification: digit scenes, localization and detection heads, boxes, MTCNN.

Import the heavier parts from their modules: ``cnn_core.vision.boxes`` (IoU, anchors, NMS, AP),
``heads`` (one backbone, three heads), ``sliding`` (FC -> conv), ``detect_train`` (DetectConfig,
DetectionRun), ``mtcnn`` (P/R/O-Net) and ``pretrained`` (torchvision's COCO detectors).
"""
from cnn_core.vision.scenes import INK_THRESHOLD, SceneConfig, Scenes, make_scenes, scenes_from_config

__all__ = ["INK_THRESHOLD", "SceneConfig", "Scenes", "make_scenes", "scenes_from_config"]
