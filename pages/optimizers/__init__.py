"""The Optimizers page's sections (the optimizer editor and its charts)."""
