"""Streamlit helpers shared by the topic pages (not pages themselves: Streamlit only lists pages/*.py).

Importing this package sets PyTorch's intra-op threads for the server process, once. One
Streamlit process serves every student; each session's script runs in its own thread. With
torch's default (one thread per core) two sessions, or a session plus anything else, make
torch's threads fight over the cores and small CNN operations get 10-50x slower (measured on
2 cores). One thread per operation lets sessions run side by side instead. Override with
CNN_PLAYGROUND_TORCH_THREADS.
"""
import os
import sys

_THREADS = max(1, int(os.environ.get("CNN_PLAYGROUND_TORCH_THREADS", "1")))
if "torch" in sys.modules:
    sys.modules["torch"].set_num_threads(_THREADS)
else:  # not imported yet (the home page needs no torch): torch takes its thread count from here on import
    os.environ["OMP_NUM_THREADS"] = str(_THREADS)
