"""The one live-run driver: admission (a fair queue of slots), Stop, progress and throttled redraw.

Every page that trains or runs other heavy work goes through here:

    outcome = run_live(run.records(), key="tr", on_item=..., progress=..., draw=...)

or, for work that is not a generator of records:

    with admitted("The statistics"):
        stats = init_statistics(config)

How a run ends, in Streamlit's rerun model: pressing Stop (or any widget) makes Streamlit raise
`RerunException` in this script thread at the next element write; a closed tab makes it raise
`StopException` the same way. Whatever the records already went into `st.session_state`, so the
next run of the page shows them as stopped. The slot is taken and given back inside ONE
`try/finally` (in `admitted`), and giving it back is idempotent and works for a ticket that is
still queued or already running, so no exception, Stop, rerun or closed tab can leak a slot, not
even one that lands between "the slot became free" and "the run started".

Admission is process-wide (one `Admission` per process in a `ProcessSingleton`, guarded by its own lock;
not in `st.cache_resource`, which any client's "clear caches" message empties):
at most CNN_PLAYGROUND_MAX_JOBS runs at once (default 2: this machine has 2 cores), at most
CNN_PLAYGROUND_JOBS_PER_SESSION per session (default 1), first come first served, and a run
that goes past CNN_PLAYGROUND_MAX_RUN_SECONDS (default 600) is stopped with a message.
Queue entries of sessions that no longer exist (tab closed) are dropped.

Slots are cores of this server: a job takes `slots` of them (default 1). A comparison or search on
the local worker pool takes one slot per worker it may use (ExecutorChoice.parallel); a job on a
Ray cluster takes none here (the cluster queues it by its own free CPUs) but still counts against
the per-session limit. A job never overtakes an older one that is waiting for more slots.

The pages that run experiments draw in turns (`@drawn_in_turns` on their main(), pages/common/live/turns.py:
one page run draws at a time, a click before a first load, a run's results before both); `admitted` gives the turn back while its job is
queued and computes, and takes one again for the results.

Never call `run_live` inside an `st.fragment`: Streamlit does not let a fragment's rerun (the Stop
click inside it) preempt a running script, so Stop would wait for the run to end. Fragments are for
views whose widgets should not rerun the page (the Train page's sanity checks are one).
"""
from __future__ import annotations

import contextlib
import functools
import time
from pathlib import Path
from dataclasses import dataclass
from typing import Callable, Generic, Iterable, Iterator, TypeVar

import streamlit as st

from cnn_core.settings import env_number as _env_number
from pages.common.live.admission import (DEFAULT_JOBS_PER_SESSION, DEFAULT_MAX_JOBS, DEFAULT_RUN_SECONDS, POLL_SECONDS,  # noqa: F401
                        TYPICAL_RUN_SECONDS, Admission, Ticket)
from pages.common.live.singleton import ProcessSingleton, guard_client_cache_clear
from pages.common.live.turns import FIRST_LOAD, RERUN, page_turn, turn_given_back  # noqa: F401

T = TypeVar("T")


def _session_alive(session: str) -> bool:
    """False once Streamlit no longer knows the session (its tab closed); True outside a server."""
    from streamlit import runtime

    if not runtime.exists():
        return True
    return runtime.get_instance().is_active_session(session)


def _new_admission() -> Admission:
    """The process-wide admission control (configured from the environment once per process)."""
    return Admission(capacity=int(_env_number("CNN_PLAYGROUND_MAX_JOBS", DEFAULT_MAX_JOBS, 1)),
                     per_session=int(_env_number("CNN_PLAYGROUND_JOBS_PER_SESSION", DEFAULT_JOBS_PER_SESSION, 1)),
                     max_seconds=_env_number("CNN_PLAYGROUND_MAX_RUN_SECONDS", DEFAULT_RUN_SECONDS, 1),
                     is_alive=_session_alive)


admission = ProcessSingleton(_new_admission)  # admission() -> the one Admission; a client cannot reset it
guard_client_cache_clear()


def session_id() -> str:
    """This script run's session id ('local' outside a Streamlit server)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    return ctx.session_id if ctx is not None else "local"


QUEUE_REDRAW_SECONDS = 2.0  # how often a waiting run redraws its unchanged place in the queue
BUSY_DRAW_SECONDS = 3.0  # while others wait for a slot, a live chart redraws at most this often (an epoch's end
                         # at most every draw_every): each redraw holds the interpreter that the queue waits behind


def queue_wait_seconds(since_redraw: float) -> float:
    """How long a queued run sleeps before it looks again, `since_redraw` seconds after it last drew its place:
    until its next redraw is due, at least 50 ms (a job that starts wakes it earlier)."""
    return min(max(QUEUE_REDRAW_SECONDS - since_redraw, 0.05), QUEUE_REDRAW_SECONDS)


def queued_text(position: int, waiting: int, seconds: float) -> str:
    """What a waiting student reads."""
    return (f"Queued (position {position} of {waiting}, about {seconds:.0f} s): the server is busy with other "
            "runs; yours starts by itself when one ends. Stop leaves the queue.")


@contextlib.contextmanager
def admitted(label: str = "run", slots: int = 1) -> Iterator[Ticket]:
    """Hold `slots` admission slots (cores; 0 for work that runs elsewhere) for the body; wait in the
    queue (saying so) until they are free.

    Everything from joining the queue to leaving it is inside this one try/finally.
    """
    control = admission()
    ticket: Ticket | None = None
    # a page drawn in turns (pages.common.live.turns) gives its turn back while it is queued and computes,
    # and takes one again, first in line, for its results
    with turn_given_back():
        try:
            status = st.empty()
            ticket = control.join(session_id(), label, slots)
            shown_at = -float("inf")
            while not control.wait(ticket, timeout=queue_wait_seconds(time.monotonic() - shown_at)):
                # the place redrawn at most every QUEUE_REDRAW_SECONDS, and the wait sleeps until then (woken
                # early only when a job starts): each start moves every waiting tab's place, so redrawing on every
                # start would cost one message per waiting tab per start, on the interpreter the class's pages
                # need. A Stop click is seen at the next redraw.
                if time.monotonic() - shown_at >= QUEUE_REDRAW_SECONDS:
                    position, waiting = control.position(ticket)
                    status.info(queued_text(max(position, 1), max(waiting, 1), control.expected_wait(ticket)),
                                icon="⏳")
                    shown_at = time.monotonic()
            status.empty()
            yield ticket
        finally:
            if ticket is not None:
                control.release(ticket)


@dataclass
class Outcome(Generic[T]):
    """How a live run ended (when it was not interrupted by Stop, a rerun or a closed tab)."""

    items: int = 0           # items consumed
    seconds: float = 0.0     # wall time while holding the slot
    timed_out: bool = False  # stopped at the run time budget
    last: T | None = None


def drawn_in_turns(page: Callable[[], None]) -> Callable[[], None]:
    """Decorate a heavy page's main(): it draws in turns with every other tab drawing a page in turns
    (pages.common.live.turns), a click of a session that already shows the page before a first load."""
    seen_key = f"turns_seen_{Path(page.__code__.co_filename).stem}"  # this session has drawn this page before

    @functools.wraps(page)
    def in_turns() -> None:
        first_load = not st.session_state.get(seen_key, False)
        st.session_state[seen_key] = True
        with page_turn(FIRST_LOAD if first_load else RERUN):
            page()

    return in_turns


def time_limit_text(seconds: float) -> str:
    """The message of a run stopped at the time budget."""
    return (f"Stopped after {seconds:.0f} s: this server lets one run use a slot for at most {seconds:.0f} s "
            "(a teacher sets CNN_PLAYGROUND_MAX_RUN_SECONDS). What was computed so far is kept; try fewer "
            "epochs, a smaller subset or a smaller model.")


def redraw_due(since: float, urgent: bool, draw_every: float, others_wait: Callable[[], bool]) -> bool:
    """Whether a live chart last drawn `since` seconds ago redraws for this item.

    Alone on the server: an urgent item (an epoch's end) at once, others every `draw_every` seconds. While
    other runs wait for a slot (`others_wait()`, asked only when it matters): an urgent item every
    `draw_every` at most, the rest every BUSY_DRAW_SECONDS; every redraw is interpreter time the queue waits
    behind, and a finished run's own charts replace the live one anyway.
    """
    if not urgent and since < draw_every:
        return False
    if since >= BUSY_DRAW_SECONDS or (urgent and since >= draw_every):
        return True
    return not others_wait()


def run_live(items: Iterable[T], key: str, *, on_item: Callable[[T], None] | None = None,
             progress: Callable[[T], tuple[float, str]] | None = None,
             draw: Callable[[T, object], None] | None = None, urgent: Callable[[T], bool] | None = None,
             every: float = 0.3, draw_every: float = 1.0, label: str = "Running", slots: int = 1,
             stop_help: str = "Stop now: what has been computed so far stays on the page.") -> Outcome[T]:
    """Consume `items` (a lazy generator of records) live, holding `slots` admission slots (default one
    core; a comparison on the worker pool passes ExecutorChoice.parallel).

    on_item(item): bookkeeping for every item (append to a history in session state); no drawing.
    progress(item) -> (fraction 0..1, text): the progress bar, at most every `every` seconds.
    draw(item, box): redraw into the placeholder `box`, at most every `draw_every` seconds,
    and at once for an item where urgent(item) is true (an epoch's end). Stop is a button keyed
    f"{key}_stop". The generator is closed on the way out, however the run ends.
    """
    outcome: Outcome[T] = Outcome()
    stop_box = st.empty()  # the Stop button exists only while the run is queued or runs
    stop_box.button("⏹ Stop", key=f"{key}_stop", help=stop_help)
    try:
        with admitted(label, slots) as ticket:
            control = admission()
            bar = st.progress(0.0, text=f"{label}...") if progress else None
            box = st.empty()
            started = time.perf_counter()
            last_text, last_draw = -float("inf"), started  # the first progress at once, the first drawing later
            for item in items:
                outcome.items, outcome.last = outcome.items + 1, item
                if on_item:
                    on_item(item)
                now = time.perf_counter()
                now_urgent = bool(urgent and urgent(item))
                if bar is not None and (now_urgent or now - last_text >= every):
                    last_text = now
                    fraction, text = progress(item)
                    ticket.progress = min(max(fraction, 0.0), 1.0)
                    bar.progress(ticket.progress, text=text)
                if draw and redraw_due(now - last_draw, now_urgent, draw_every, lambda: control.counts()[1] > 0):
                    last_draw = now
                    draw(item, box)
                if control.overdue(ticket):
                    outcome.timed_out = True
                    break
            outcome.seconds = time.perf_counter() - started
            for placeholder in (bar, box, stop_box):
                if placeholder is not None:
                    placeholder.empty()
            if outcome.timed_out:
                st.warning(time_limit_text(control.max_seconds))
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()
    return outcome
