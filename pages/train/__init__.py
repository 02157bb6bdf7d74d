"""The Train page's sections (setup, tabs, TensorBoard)."""
