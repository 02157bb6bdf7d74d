"""A Streamlit session without a browser: Streamlit's own websocket protocol, for load tests of the server.

A browser tab sends `BackMsg`s (run the page with this query string; these widget values; this button was
pressed) over `/_stcore/stream` and renders the `ForwardMsg`s that come back. This client sends the same
messages and reads the replies without rendering them, so N students cost the server what N tabs cost it,
while the load generator itself stays light: 30 headless Chromium renderers on the server's own 2 cores
measure the renderers as much as the server.

Widget values the client does not send are kept by the server from the session's previous run (Streamlit's
session state), which is what a browser sends back for widgets the student did not touch.

A client is not a browser and may send what no honest tab sends: `clear_cache()` (the message behind the menu's
"Clear caches", which empties every cache of the server) and a forged `context_url` (what `st.context.url` reports
to the page). benchmarks/class_abuse.py and tests/test_class_abuse_*.py use both.
`websockets` comes with Streamlit's server (uvicorn).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

FINISHED_SUCCESSFULLY = 0  # ForwardMsg.script_finished: 1 compile error, 2 early for a rerun, 3 fragment


@dataclass
class Rendered:
    """What one script run sent: widget ids by key, number inputs' values, errors, and the raw deltas."""

    widgets: dict[str, str] = field(default_factory=dict)   # user key -> widget id
    numbers: dict[str, float] = field(default_factory=dict)  # user key -> the number input's value
    exceptions: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    payload: bytearray = field(default_factory=bytearray)   # every delta's bytes, to look for a text

    def saw(self, text: str) -> bool:
        """True if any delta of the run carried `text` (a table's column name, an alert's words)."""
        return text.encode() in self.payload


def _key_of(widget_id: str) -> str:
    # Streamlit widget ids end in "-<user key>" when the widget has a key: "$$ID-<hash>-cnn_run".
    return widget_id.rsplit("-", 1)[-1] if widget_id.startswith("$$ID-") else widget_id


class Session:
    """One websocket session of a Streamlit app (one student's tab)."""

    def __init__(self, base_url: str) -> None:
        self.http = base_url.rstrip("/")
        self.ws_url = self.http.replace("http://", "ws://", 1) + "/_stcore/stream"
        self.page_hash = ""
        self.query = ""
        self.context_url = ""
        self._ws = None

    async def __aenter__(self) -> "Session":
        self._ws = await websockets.connect(self.ws_url, subprotocols=["streamlit"], origin=self.http,
                                            max_size=None, open_timeout=300, ping_timeout=None)
        return self

    async def __aexit__(self, *exc) -> None:
        await self._ws.close()

    async def open(self, page: str, query: str, timeout_s: float, context_url: str = "") -> Rendered:
        """Open `page` (its URL path, e.g. "Optimizers") with a query string, as a lesson link does.

        context_url: the address the client claims to be at (st.context.url); a browser sends its own.
        """
        await self.send_open(page, query, context_url)
        return await self._until_finished(timeout_s)

    async def send_open(self, page: str, query: str = "", context_url: str = "") -> None:
        """Ask for a run of `page` without waiting for it (read it later with `finished`)."""
        self.query, self.context_url = query, context_url
        message = BackMsg()
        message.rerun_script.query_string = query
        message.rerun_script.page_name = page
        if context_url:
            message.rerun_script.context_info.url = context_url
        await self._ws.send(message.SerializeToString())

    async def finished(self, timeout_s: float) -> Rendered:
        """Read the messages of the run in progress until it finishes."""
        return await self._until_finished(timeout_s)

    async def clear_cache(self) -> None:
        """Send what the menu's "Clear caches" sends: Streamlit empties st.cache_data and st.cache_resource of the
        whole server (and this session's state). No reply comes."""
        message = BackMsg()
        message.clear_cache = True
        await self._ws.send(message.SerializeToString())

    async def click(self, key: str, rendered: Rendered, timeout_s: float,
                    texts: dict[str, str] | None = None) -> Rendered:
        """Press the button with user key `key` (seen in `rendered`), with the text inputs of `texts` (user key ->
        text) typed in, and read the run it starts."""
        message = BackMsg()
        state = message.rerun_script
        state.query_string = self.query
        state.page_script_hash = self.page_hash
        if self.context_url:
            state.context_info.url = self.context_url
        for text_key, value in (texts or {}).items():
            typed = state.widget_states.widgets.add()
            typed.id = rendered.widgets[text_key]
            typed.string_value = value
        widget = state.widget_states.widgets.add()
        widget.id = rendered.widgets[key]
        widget.trigger_value = True
        await self._ws.send(message.SerializeToString())
        return await self._until_finished(timeout_s)

    async def _until_finished(self, timeout_s: float) -> Rendered:
        import asyncio

        rendered, deadline = Rendered(), time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no finished script run within {timeout_s:.0f} s")
            raw = await asyncio.wait_for(self._ws.recv(), timeout=left)
            message = ForwardMsg()
            message.ParseFromString(raw)
            kind = message.WhichOneof("type")
            if kind == "new_session":
                self.page_hash = message.new_session.page_script_hash
            elif kind == "navigation":
                self.page_hash = message.navigation.page_script_hash
            elif kind == "delta":
                self._read_delta(message, raw, rendered)
            elif kind == "script_finished" and message.script_finished == FINISHED_SUCCESSFULLY:
                return rendered
            elif kind == "script_finished" and message.script_finished == 1:
                raise RuntimeError("the page did not compile")

    @staticmethod
    def _read_delta(message: ForwardMsg, raw: bytes, rendered: Rendered) -> None:
        rendered.payload += raw
        if message.delta.WhichOneof("type") != "new_element":
            return
        element = message.delta.new_element
        kind = element.WhichOneof("type")
        if kind == "exception":
            rendered.exceptions.append(element.exception.message)
        elif kind == "alert" and element.alert.format == element.alert.ERROR:
            rendered.errors.append(element.alert.body)
        elif kind is not None:
            proto = getattr(element, kind)
            widget_id = getattr(proto, "id", "") if hasattr(proto, "id") else ""
            if widget_id:
                rendered.widgets[_key_of(widget_id)] = widget_id
            if kind == "number_input":
                value = proto.value if proto.HasField("value") else proto.default
                rendered.numbers[_key_of(widget_id)] = value
