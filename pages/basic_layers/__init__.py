"""The Basic Layers page's sections (convolution, pooling, the backward pass)."""
