"""The Architecture page's sections (the layer builder)."""
