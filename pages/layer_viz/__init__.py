"""The Layer Visualization page's sections (draw a digit, the tabs, inside a network)."""
