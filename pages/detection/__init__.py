"""The Detection page's sections (heads and scenes, boxes and AP, training, faces)."""
