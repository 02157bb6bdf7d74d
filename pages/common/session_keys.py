"""Names of the st.session_state entries that pages share (one session = one student)."""

# (tuple[LayerSpec, ...], (C, H, W)): the network built on the Architecture page
CUSTOM_ARCHITECTURE = "custom_architecture"
# dict[str, bytes]: checkpoints of models trained (or uploaded) in this session, by display name;
# the Layer Visualization page offers them next to the built-in models
SESSION_CHECKPOINTS = "session_checkpoints"
