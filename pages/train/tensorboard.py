"""The Train page's TensorBoard tab for a hosted student: only this session's runs, drawn in the page.

    log_dir = session_log_dir() / run_name(config)     # where this session's next run logs
    tensorboard_tab(st.session_state.get(LOG_DIR))     # inside the TensorBoard tab

Scalars and histograms are read back from the session's event files (TensorBoard's EventAccumulator, at most
a bounded number of points per tag, reading only what was appended since the last look), the whole session
folder downloads as a zip, and where the server allows it a TensorBoard started by the page is embedded.

Whether the page may start a TensorBoard is the server's decision, never the browser's (the address the
browser reports is whatever the client sends): CNN_PLAYGROUND_TENSORBOARD=embed lets any session start the
server's one TensorBoard; =local only a session whose websocket comes from this machine (the peer address of
the connection, which the client cannot choose; do not use it behind a proxy on the same machine); unset or
anything else: never. The one process stops when its session ends or after an idle time.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from cnn_core.errors import PlaygroundError
from cnn_core.training.tensorboard import (MAX_POINTS_PER_TAG, MAX_ZIP_BYTES, cleanup_old_sessions, is_loopback_host,
                                           max_age_hours, new_session_id, read_histograms, read_notices, read_scalars,
                                           session_runs, session_runs_dir, tensorboard_command, tensorboard_host,
                                           zip_folder)

SESSION_ID = "tensorboard_session_id"  # session-state: this session's log folder name
MODE_ENV = "CNN_PLAYGROUND_TENSORBOARD"  # "embed", "local" or unset (never start one)
_CLEANUP_EVERY_S = 3600.0
_last_cleanup = [0.0]
_cleanup_lock = threading.Lock()


def _cleanup_now_and_then(keep: str) -> None:
    """Delete other sessions' folders past the age limit, at most once an hour per process."""
    with _cleanup_lock:
        if time.time() - _last_cleanup[0] < _CLEANUP_EVERY_S:
            return
        _last_cleanup[0] = time.time()
    cleanup_old_sessions(keep=[keep])


def session_log_dir() -> Path:
    """This browser session's own TensorBoard folder (created on first use; old sessions' folders cleaned)."""
    session_id = st.session_state.setdefault(SESSION_ID, new_session_id())
    _cleanup_now_and_then(session_id)
    return session_runs_dir(session_id)


def _signature(folder: Path) -> tuple:
    """Changes whenever a run of the folder writes (cache key for the read-back)."""
    return tuple((p.name, max(f.stat().st_mtime_ns for f in p.iterdir())) for p in session_runs(folder))


@st.cache_data(max_entries=64, show_spinner="Reading the event files...")
def _read(folder: str, signature: tuple) -> tuple[pd.DataFrame, pd.DataFrame]:
    # the reader keeps one accumulator per run and reads only what was appended: a clear of this cache costs
    # rebuilding two frames, not reading every event file again
    return read_scalars(folder), read_histograms(folder)


def axis_of(tag: str) -> str:
    """What a scalar is plotted against: 'epoch' for epoch/* tags, else the optimizer 'step'."""
    return "epoch" if str(tag).startswith("epoch/") else "step"


def scalars_chart(scalars: pd.DataFrame, tags: list[str], axis: str = "step") -> alt.Chart:
    """One panel per tag, one line per run, x = `axis` (TensorBoard stores both as the event's step); tags of one
    axis per chart and one x scale per panel, so three epochs are never squeezed onto a 0-200 step axis."""
    data = scalars[scalars["tag"].isin(tags)]
    return alt.Chart(data).mark_line(point=alt.OverlayMarkDef(size=20)).encode(
        x=alt.X("step:Q", title=axis, axis=alt.Axis(tickMinStep=1)),
        y=alt.Y("value:Q", scale=alt.Scale(zero=False), title=None),
        color=alt.Color("run:N", legend=alt.Legend(orient="bottom", labelLimit=400)),
        tooltip=["run", "tag", alt.Tooltip("step:Q", title=axis), alt.Tooltip("value:Q", format=".4g")],
    ).properties(height=200).facet(facet=alt.Facet("tag:N", title=None), columns=2).resolve_scale(
        x="independent", y="independent")


def histogram_chart(bins: pd.DataFrame) -> alt.Chart:
    """TensorBoard's Distributions view: one row per epoch, the value axis binned, colour = count."""
    return alt.Chart(bins).mark_rect().encode(
        x=alt.X("left:Q", title="value"), x2="right:Q", y=alt.Y("step:O", title="epoch", sort="descending"),
        color=alt.Color("count:Q", scale=alt.Scale(scheme="blues"), title="count"),
        tooltip=["step", alt.Tooltip("left:Q", format=".3g"), alt.Tooltip("right:Q", format=".3g"), "count"],
    ).properties(height=max(120, 28 * bins["step"].nunique()))


def _scalars_section(scalars: pd.DataFrame) -> None:
    runs = sorted(scalars["run"].unique(), reverse=True)
    chosen = st.multiselect("Runs", runs, default=runs[:3], key="tb_runs")
    tags = sorted(scalars["tag"].unique())
    default = [t for t in tags if t in ("epoch/train_loss", "epoch/val_loss", "epoch/val_accuracy",
                                         "step/train_loss")] or tags[:4]
    picked = st.multiselect("Scalars", tags, default=default, key="tb_tags")
    data = scalars[scalars["run"].isin(chosen)]
    for axis in ("epoch", "step"):  # one chart per x axis: epochs and optimizer steps never share one
        tags_here = [t for t in picked if axis_of(t) == axis]
        if tags_here and not data[data["tag"].isin(tags_here)].empty:
            st.caption(f"Per {axis} (x = {axis}; at most {MAX_POINTS_PER_TAG} points per run and scalar)")
            st.altair_chart(scalars_chart(data, tags_here, axis), width="stretch")


def _histograms_section(bins: pd.DataFrame) -> None:
    if bins.empty:
        st.caption("No histograms yet (they are written at the end of each epoch).")
        return
    left, right = st.columns(2)
    run = left.selectbox("Run", sorted(bins["run"].unique(), reverse=True), key="tb_hist_run")
    tags = sorted(bins.loc[bins["run"] == run, "tag"].unique(), key=lambda t: (not t.startswith("weights/"), t))
    tag = right.selectbox("Histogram", tags, key="tb_hist_tag")
    st.altair_chart(histogram_chart(bins[(bins["run"] == run) & (bins["tag"] == tag)]), width="stretch")


def board_mode() -> str:
    """The server's setting: 'embed', 'local' or 'off'."""
    mode = os.environ.get(MODE_ENV, "").strip().lower()
    return mode if mode in ("embed", "local") else "off"


def _session_key() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    return ctx.session_id if ctx is not None else "local"


def peer_is_loopback() -> bool:
    """True when this session's websocket comes from this machine: the TCP peer address the server saw, which the
    client cannot choose (unlike the URL it reports). False outside a server."""
    from streamlit import runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None or not runtime.exists():
        return False
    client = runtime.get_instance().get_client(ctx.session_id)
    remote = getattr(getattr(client, "client_context", None), "remote_ip", None)
    return is_loopback_host(remote)


def board_allowed() -> bool:
    """Whether this session may start the server's TensorBoard (decided on the server side)."""
    mode = board_mode()
    return mode == "embed" or (mode == "local" and peer_is_loopback())


def _session_alive(session: str) -> bool:
    from streamlit import runtime

    return not runtime.exists() or runtime.get_instance().is_active_session(session)


def _local_board(folder: Path) -> None:
    """Where the server allows it: the server's one TensorBoard on this session's folder, embedded."""
    if not board_allowed():
        return
    host, me = tensorboard_host(), _session_key()
    board = host.touch(me)
    if board is None:
        if not st.button("▶️ Start TensorBoard here", key="tb_start",
                         help="Runs TensorBoard on this server for this session's folder and shows it below."):
            return
        try:
            with st.spinner("Starting TensorBoard..."):
                board = host.open(me, folder, alive=_session_alive)
        except PlaygroundError as exc:
            st.error(str(exc))
            return
    st.caption(f"TensorBoard runs at {board.url} (one per server; it stops when this session ends or after "
               f"{host.idle_s / 60:.0f} idle minutes).")
    if st.button("⏹ Stop TensorBoard", key="tb_stop"):
        host.stop(me)
        return
    st.iframe(board.url, height=800)


def tensorboard_tab(current_log_dir: str | None = None) -> None:
    """The whole tab: this session's scalars and histograms, the zip, and a local TensorBoard when possible."""
    folder = session_log_dir()
    st.markdown("TensorBoard is PyTorch's dashboard for training runs (`torch.utils.tensorboard.SummaryWriter`). "
                "Tick **Write a TensorBoard log** in the sidebar and train: this tab reads the event files back "
                "and draws them. Only **your** runs are here: every browser session logs to a folder of its own, "
                f"deleted {max_age_hours():g} hours after its last write.")
    if current_log_dir:  # the run's name only: the server's folders are none of the class's business
        st.success(f"The current run logs to `{Path(current_log_dir).name}`.")
    for notice in read_notices(folder)[-3:]:
        st.warning(notice, icon="💾")
    runs = session_runs(folder)
    if not runs:
        st.info("No TensorBoard log in this session yet.")
        return
    scalars, bins = _read(str(folder), _signature(folder))
    st.subheader("Scalars")
    _scalars_section(scalars)
    st.subheader("Histograms")
    _histograms_section(bins)
    st.subheader("Open them in your own TensorBoard")
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    if size > MAX_ZIP_BYTES:
        st.warning(f"The logs are {size / 2**20:.0f} MiB, more than the {MAX_ZIP_BYTES / 2**20:.0f} MiB a download "
                   "may hold: untick the histograms or train fewer runs.")
    else:
        st.download_button(f"⬇️ This session's logs (zip, {size / 2**20:.1f} MiB before compression)",
                           data=lambda: zip_folder(folder), file_name="tensorboard-logs.zip",
                           mime="application/zip", key="tb_zip", on_click="ignore")
    st.caption("Unzip, then run:")
    st.code(tensorboard_command("tensorboard-logs"), language="bash")
    _local_board(folder)
