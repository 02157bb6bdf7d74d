"""Small computations that are the lesson itself: one convolution step, loss curves, 2-D optimizer surfaces."""
