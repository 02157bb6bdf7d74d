"""The exercise catalogue, in the lecture's order (each module covers consecutive sections)."""
from __future__ import annotations

from cnn_core.lessons.exercises import layers, pytorch, training, vision
from cnn_core.lessons.exercises.common import by_id

EXERCISES = (*layers.EXERCISES, *pytorch.EXERCISES, *training.EXERCISES, *vision.EXERCISES)
BY_ID = by_id(list(EXERCISES))
