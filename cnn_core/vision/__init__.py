"""Vision tasks beyond classification: digit scenes, localization and detection heads, boxes, MTCNN."""
from cnn_core.vision.scenes import INK_THRESHOLD, SceneConfig, Scenes, make_scenes, scenes_from_config

__all__ = ["INK_THRESHOLD", "SceneConfig", "Scenes", "make_scenes", "scenes_from_config"]
