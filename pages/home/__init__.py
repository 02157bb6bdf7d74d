"""The home page's content (playground.py draws it)."""
