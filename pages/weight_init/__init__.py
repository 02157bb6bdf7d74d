"""The Weight Initialization page's sections (its charts)."""
