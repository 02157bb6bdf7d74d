"""A class gallery of published runs on a real database (SQLAlchemy 2.x).

Default storage is one SQLite file in WAL mode under the playground's data folder, so nothing needs
setting up; ``CNN_PLAYGROUND_DB=postgresql+psycopg://user:pass@host/db`` points every replica of the app
at one shared PostgreSQL instead::

    store = GalleryStore.from_env()
    entry_id = store.publish(NewEntry(exercise="optimizers", page="7_Optimizers.py", nickname="ada",
                                      config={"opt": "adam", "lr": 1e-3}, seed=0,
                                      metrics={"val_accuracy": 0.97}, curves=[...], query="opt=adam"))
    rows = store.entries("optimizers")           # best validation accuracy first

Every write is one short transaction: on SQLite it takes the write lock up front (BEGIN IMMEDIATE) and
waits for it (busy timeout), so concurrent writers queue instead of failing with "database is locked";
on PostgreSQL an advisory lock serializes the count check and the insert, so the size bounds are exact.
Entries are bounded in size and count; a publish carries a client token, so a retried publish is
stored once. One student cannot fill it: a publish names its owner (the server's session id), and each
owner gets at most `per_session` entries per exercise, one publish per `min_interval_s`; the same run
(config + seed + metrics) is stored once per nickname; nicknames are normalized (NFKC, no invisible or
bidi characters) and unique per exercise (case-folded) unless the same owner reclaims its own. Hidden
entries do not count against an exercise's cap.

`shared_store()` is the one store of this process (its `engine` can be reused by other classroom tables).
"""
from __future__ import annotations

import json
import math
import os
import hashlib
import re
import threading
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import (Boolean, Float, Integer, String, Text, create_engine, delete, event, func, inspect, select,
                        text, update)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, defer, mapped_column, sessionmaker

from cnn_core.errors import PlaygroundError
from cnn_core.settings import default_data_dir as playground_data_dir

DB_ENV = "CNN_PLAYGROUND_DB"

MAX_ENTRIES_PER_EXERCISE = 500  # one class of 30 publishing ~15 runs each
MAX_ENTRIES_TOTAL = 5_000
PER_SESSION_ENV = "CNN_PLAYGROUND_GALLERY_PER_SESSION"
INTERVAL_ENV = "CNN_PLAYGROUND_GALLERY_INTERVAL_S"
DEFAULT_PER_SESSION = 10  # entries one session may publish per exercise
DEFAULT_MIN_INTERVAL_S = 5.0  # seconds between two publishes of one session
MAX_NICKNAME = 32  # characters
MAX_NOTES = 500  # characters
MAX_NAME = 64  # exercise and page names
MAX_CONFIG_BYTES = 16 * 1024  # JSON of the config dict
MAX_METRICS = 32  # metric names per entry
MAX_CURVE_ROWS = 2_000  # tidy rows (run, epoch, step, split, metric, value)
MAX_CURVES_BYTES = 256 * 1024
MAX_QUERY = 2_000  # characters of the lesson-link query string
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_NOTES_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SPACES_RE = re.compile(r"\s+")


class GalleryError(PlaygroundError):
    """An entry the gallery refuses (too big, bad nickname) or a database it cannot reach."""


class GalleryFull(GalleryError):
    """The exercise (or the whole gallery) holds its maximum number of entries."""


class GalleryQuota(GalleryError):
    """This session published its share (quota per exercise) or too quickly (rate)."""


def _env_limit(name: str, default: float) -> float:
    """A non-negative number from the environment, else the default."""
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if math.isfinite(value) and value >= 0 else default


def normalize_nickname(value: object) -> str:
    """The nickname as shown: NFKC, invisible / bidi / control characters removed, spaces collapsed.

    Raises GalleryError for a nickname that is empty afterwards or too long.
    """
    if not isinstance(value, str):
        raise GalleryError("The nickname must be text.")
    value = unicodedata.normalize("NFKC", value)
    # Cc: controls; Cf: format characters (zero-width joiners/spaces, bidi overrides and isolates, BOM);
    # Co/Cn/Cs: private use, unassigned, lone surrogates: they render as nothing or as boxes and could fake a name
    value = "".join(ch for ch in value if unicodedata.category(ch) not in ("Cc", "Cf", "Co", "Cn", "Cs"))
    value = _SPACES_RE.sub(" ", value).strip()
    if not value:
        raise GalleryError("Please enter a nickname (visible characters).")
    if len(value) > MAX_NICKNAME:
        raise GalleryError(f"The nickname is too long ({len(value)} characters, at most {MAX_NICKNAME}).")
    return value


def nickname_key(value: str) -> str:
    """What two nicknames share when they are 'the same' name: normalized, then case-folded (Ada = ADA = ａｄａ)."""
    return unicodedata.normalize("NFKC", normalize_nickname(value).casefold())


def run_fingerprint(exercise: str, config: object, seed: int, metrics: object) -> str:
    """A hash of what makes a run the same run: exercise, config, seed and metrics."""
    payload = json.dumps([exercise, config, seed, metrics], sort_keys=True, default=str, allow_nan=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def default_db_url() -> str:
    """$CNN_PLAYGROUND_DB, else a SQLite file in the data folder's classroom/ subfolder."""
    url = os.environ.get(DB_ENV, "").strip()
    if url:
        return url
    return f"sqlite:///{playground_data_dir() / 'classroom' / 'gallery.sqlite3'}"


def escape_markdown(value: str) -> str:
    """Text that st.markdown shows literally: markdown and HTML characters backslash-escaped."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$&])", r"\\\1", value)


class _Base(DeclarativeBase):
    pass


class _EntryRow(_Base):
    __tablename__ = "gallery_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token: Mapped[str] = mapped_column(String(36), unique=True)  # client token: a retried publish is one entry
    created_at: Mapped[float] = mapped_column(Float)  # seconds since the epoch (UTC)
    exercise: Mapped[str] = mapped_column(String(MAX_NAME), index=True)
    page: Mapped[str] = mapped_column(String(MAX_NAME))
    nickname: Mapped[str] = mapped_column(String(MAX_NICKNAME))
    nickname_key: Mapped[str | None] = mapped_column(String(4 * MAX_NICKNAME), index=True, nullable=True)
    owner: Mapped[str] = mapped_column(String(64), default="", index=True)  # the publishing session ("" = a script)
    run_key: Mapped[str] = mapped_column(String(64), default="")  # run_fingerprint: one run once per nickname
    notes: Mapped[str] = mapped_column(String(MAX_NOTES), default="")
    seed: Mapped[int] = mapped_column(Integer)
    val_accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)  # the leaderboard's sort key
    config_json: Mapped[str] = mapped_column(Text)
    metrics_json: Mapped[str] = mapped_column(Text)
    curves_json: Mapped[str] = mapped_column(Text)
    query: Mapped[str] = mapped_column(String(MAX_QUERY), default="")
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)


class _PinRow(_Base):
    __tablename__ = "gallery_pins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1: one pinned note per class
    message: Mapped[str] = mapped_column(String(MAX_NOTES))
    page: Mapped[str] = mapped_column(String(MAX_NAME))
    query: Mapped[str] = mapped_column(String(MAX_QUERY))
    updated_at: Mapped[float] = mapped_column(Float)


@dataclass(frozen=True)
class NewEntry:
    """A run a student publishes: where it came from, who, its setup and its results."""

    exercise: str  # e.g. "optimizers" (the leaderboard groups by it)
    page: str  # the page file, e.g. "7_Optimizers.py"
    nickname: str  # shown to the class: plain text, escaped when drawn
    config: dict[str, Any]  # the run's settings (JSON-able)
    seed: int
    metrics: dict[str, float]  # final metrics; "val_accuracy" sorts the leaderboard
    curves: list[dict[str, Any]] = field(default_factory=list)  # tidy rows: run, epoch, step, split, metric, value
    query: str = ""  # the lesson link's query string that reopens this setup
    notes: str = ""
    token: str = field(default_factory=lambda: str(uuid.uuid4()))
    owner: str = ""  # the publishing session (the server's session id; "" for a script): quota and rate per owner


@dataclass(frozen=True)
class Entry:
    """A stored gallery entry (read-only copy of a row)."""

    id: int
    created_at: float
    exercise: str
    page: str
    nickname: str
    notes: str
    seed: int
    val_accuracy: float | None
    config: dict[str, Any]
    metrics: dict[str, float | None]
    curves: list[dict[str, Any]]
    query: str
    hidden: bool


@dataclass(frozen=True)
class Pin:
    """The teacher's pinned note: a message and a lesson link (page + query string)."""

    message: str
    page: str
    query: str
    updated_at: float


def _clean_text(value: object, limit: int, what: str, allow_empty: bool = True) -> str:
    if not isinstance(value, str):
        raise GalleryError(f"The {what} must be text.")
    pattern = _NOTES_CONTROL_RE if what == "notes" else _CONTROL_RE  # notes may keep line breaks
    value = pattern.sub(" ", value).strip()
    if not value and not allow_empty:
        raise GalleryError(f"Please enter a {what}.")
    if len(value) > limit:
        raise GalleryError(f"The {what} is too long ({len(value)} characters, at most {limit}).")
    return value


def _clean_name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_NAME or not _NAME_RE.match(value):
        raise GalleryError(f"Unknown {what}: {str(value)[:MAX_NAME]!r}.")
    return value


def _finite_or_none(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _dumps(value: object, limit: int, what: str) -> str:
    try:
        payload = json.dumps(value, allow_nan=False, sort_keys=True, default=str)
    except (TypeError, ValueError) as exc:
        raise GalleryError(f"The {what} cannot be stored: {exc}.") from exc
    if len(payload.encode()) > limit:
        raise GalleryError(f"The {what} is too large to publish ({len(payload.encode()):,} bytes, at most {limit:,}).")
    return payload


def _validated_row(entry: NewEntry) -> _EntryRow:
    """Check every bound of a NewEntry and turn it into a row (raises GalleryError)."""
    if not isinstance(entry.metrics, dict) or len(entry.metrics) > MAX_METRICS:
        raise GalleryError(f"At most {MAX_METRICS} metrics can be published.")
    metrics = {_clean_text(str(k), MAX_NAME, "metric name", False): _finite_or_none(v)
               for k, v in entry.metrics.items()}
    if not isinstance(entry.curves, list) or len(entry.curves) > MAX_CURVE_ROWS:
        raise GalleryError(f"At most {MAX_CURVE_ROWS:,} curve points can be published.")
    curves = [{k: (_finite_or_none(v) if isinstance(v, float) else v) for k, v in row.items()}
              for row in entry.curves if isinstance(row, dict)]
    if not isinstance(entry.config, dict):
        raise GalleryError("The config must be a dictionary of settings.")
    if isinstance(entry.seed, bool) or not isinstance(entry.seed, int) or not 0 <= entry.seed < 2**31:
        raise GalleryError("The seed must be a whole number between 0 and 2^31 - 1.")
    query = _clean_text(entry.query, MAX_QUERY, "link")
    if query.startswith("?"):
        query = query[1:]
    if "://" in query or query.lower().startswith(("javascript:", "data:")):
        raise GalleryError("The link must be a query string of this playground.")
    exercise = _clean_name(entry.exercise, "exercise")
    nickname = normalize_nickname(entry.nickname)
    owner = _clean_text(entry.owner, 64, "owner")
    return _EntryRow(
        token=_clean_text(entry.token, 36, "token", False), created_at=time.time(),
        exercise=exercise, page=_clean_name(entry.page, "page"),
        nickname=nickname, nickname_key=nickname_key(nickname), owner=owner,
        run_key=run_fingerprint(exercise, entry.config, entry.seed, metrics),
        notes=_clean_text(entry.notes, MAX_NOTES, "notes"), seed=entry.seed,
        val_accuracy=metrics.get("val_accuracy"),
        config_json=_dumps(entry.config, MAX_CONFIG_BYTES, "config"),
        metrics_json=_dumps(metrics, MAX_CONFIG_BYTES, "metrics"),
        curves_json=_dumps(curves, MAX_CURVES_BYTES, "curves"), query=query, hidden=False)


def _entry(row: _EntryRow, with_curves: bool = True) -> Entry:
    return Entry(id=row.id, created_at=row.created_at, exercise=row.exercise, page=row.page,
                 nickname=row.nickname, notes=row.notes, seed=row.seed, val_accuracy=row.val_accuracy,
                 config=json.loads(row.config_json), metrics=json.loads(row.metrics_json),
                 curves=json.loads(row.curves_json) if with_curves else [], query=row.query, hidden=row.hidden)


def _add_missing_columns(engine: Engine) -> None:
    """Bring a gallery table made by an older playground up to date (new columns, keys of old nicknames)."""
    present = {c["name"] for c in inspect(engine).get_columns(_EntryRow.__tablename__)}
    added = {"nickname_key": f"VARCHAR({4 * MAX_NICKNAME})", "owner": "VARCHAR(64) DEFAULT ''",
             "run_key": "VARCHAR(64) DEFAULT ''"}
    missing = {name: kind for name, kind in added.items() if name not in present}
    if not missing:
        return
    with engine.begin() as connection:
        for name, kind in missing.items():
            connection.execute(text(f"ALTER TABLE {_EntryRow.__tablename__} ADD COLUMN {name} {kind}"))
        rows = connection.execute(text(f"SELECT id, nickname FROM {_EntryRow.__tablename__}")).all()
        for entry_id, name in rows:
            try:
                key = nickname_key(name)
            except GalleryError:
                key = name.casefold()
            connection.execute(text(f"UPDATE {_EntryRow.__tablename__} SET nickname_key = :k, owner = "
                                    "COALESCE(owner, ''), run_key = COALESCE(run_key, '') WHERE id = :i"),
                               {"k": key, "i": entry_id})


def _sqlite_engine(url: str, immediate: bool) -> Engine:
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                           pool_size=8, max_overflow=32, pool_timeout=60)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # The driver's own BEGIN handling is switched off so that every transaction starts with
        # BEGIN IMMEDIATE (below): a writer takes the lock first and waits for it (busy_timeout), instead
        # of upgrading a read lock, which SQLite answers at once with "database is locked".
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")  # readers: WAL snapshot

    return engine


class GalleryStore:
    """The class gallery: publish, list, hide, delete, reset an exercise, pin a note (thread-safe).

    One store per process is enough (its engine pools connections); every method opens and closes its
    own short transaction, so Streamlit sessions on many threads (and replicas on one PostgreSQL) can
    share it.
    """

    def __init__(self, url: str | None = None, max_per_exercise: int = MAX_ENTRIES_PER_EXERCISE,
                 max_total: int = MAX_ENTRIES_TOTAL, per_session: int | None = None,
                 min_interval_s: float | None = None) -> None:
        self.url = url or default_db_url()
        self.max_per_exercise = max_per_exercise
        self.max_total = max_total
        # per owner (session) and exercise; 0 = no limit. From the environment unless given.
        self.per_session = int(_env_limit(PER_SESSION_ENV, DEFAULT_PER_SESSION) if per_session is None
                               else per_session)
        self.min_interval_s = float(_env_limit(INTERVAL_ENV, DEFAULT_MIN_INTERVAL_S) if min_interval_s is None
                                    else min_interval_s)
        try:
            if self.url.startswith("sqlite"):
                self.engine = _sqlite_engine(self.url, immediate=True)
                self._read_engine = _sqlite_engine(self.url, immediate=False)
            else:
                self.engine = create_engine(self.url, pool_size=8, max_overflow=32, pool_timeout=60,
                                            pool_pre_ping=True)
                self._read_engine = self.engine
            self.dialect = self.engine.dialect.name
            _Base.metadata.create_all(self.engine)
            _add_missing_columns(self.engine)
        except Exception as exc:  # a wrong URL or an unreachable server: a message, not a traceback
            raise GalleryError(f"The class gallery's database cannot be opened ({type(exc).__name__}). "
                               f"Check {DB_ENV}.") from exc
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._reads = sessionmaker(self._read_engine, expire_on_commit=False)

    @classmethod
    def from_env(cls) -> "GalleryStore":
        """A store on $CNN_PLAYGROUND_DB, else on the default SQLite file."""
        return cls(default_db_url())

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        self._read_engine.dispose()

    def describe(self) -> str:
        """Where the gallery lives, without a password: 'SQLite file ...' or 'postgresql on host/db'."""
        if self.dialect == "sqlite":
            return f"SQLite file {self.engine.url.database}"
        url = self.engine.url
        return f"{self.dialect} database {url.database} on {url.host}"

    # ------------------------------------------------------------------ writing

    def _write(self, work):  # type: ignore[no-untyped-def]
        """Run work(session) in one transaction; on SQLite retry a rare lock timeout a few times."""
        for attempt in range(5):
            try:
                with self._sessions.begin() as session:
                    if self.dialect == "postgresql":
                        # one writer at a time for the count check + insert; released at commit
                        session.execute(text("SELECT pg_advisory_xact_lock(18018)"))
                    return work(session)
            except OperationalError as exc:
                if "locked" not in str(exc).lower() or attempt == 4:
                    raise GalleryError("The class gallery is busy; please try again in a moment.") from exc
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    def publish(self, entry: NewEntry) -> int:
        """Store a run (once per token, once per nickname and run) and return its id.

        GalleryFull when an exercise (hidden entries not counted) or the gallery is at its bound; GalleryQuota
        when the owner published its share of the exercise or too soon after its last publish; GalleryError
        when another session already publishes under this nickname in the exercise.
        """
        row = _validated_row(entry)

        def work(session: Session) -> int:
            existing = session.scalar(select(_EntryRow.id).where(_EntryRow.token == row.token))
            if existing is not None:
                return existing
            same_run = session.scalar(select(_EntryRow.id).where(
                _EntryRow.exercise == row.exercise, _EntryRow.nickname_key == row.nickname_key,
                _EntryRow.run_key == row.run_key).limit(1))
            if same_run is not None:
                return same_run  # the same run under the same name: stored once
            taken = session.scalar(select(_EntryRow.id).where(
                _EntryRow.exercise == row.exercise, _EntryRow.nickname_key == row.nickname_key,
                _EntryRow.owner != row.owner).limit(1))
            if taken is not None:
                raise GalleryError(f"Someone else publishes as '{row.nickname}' in '{row.exercise}': please pick "
                                   "another nickname.")
            self._check_owner(session, row)
            visible = (select(func.count()).select_from(_EntryRow).where(_EntryRow.hidden.is_(False)))
            per_exercise = session.scalar(visible.where(_EntryRow.exercise == row.exercise)) or 0
            if per_exercise >= self.max_per_exercise:
                raise GalleryFull(f"The gallery for '{row.exercise}' is full ({self.max_per_exercise} runs); "
                                  "ask your teacher to reset it.")
            total = session.scalar(visible) or 0
            if total >= self.max_total:
                raise GalleryFull(f"The class gallery is full ({self.max_total} runs); ask your teacher to reset "
                                  "an exercise.")
            session.add(row)
            session.flush()
            return row.id

        try:
            return self._write(work)
        except IntegrityError:  # the same token raced in from another thread: it is stored once
            with self._reads() as session:
                found = session.scalar(select(_EntryRow.id).where(_EntryRow.token == row.token))
            if found is None:
                raise
            return found

    def _check_owner(self, session: Session, row: _EntryRow) -> None:
        # A session's share of an exercise and its pace; a script (owner "") is not limited.
        if not row.owner:
            return
        if self.per_session > 0:
            mine = session.scalar(select(func.count()).select_from(_EntryRow).where(
                _EntryRow.owner == row.owner, _EntryRow.exercise == row.exercise)) or 0
            if mine >= self.per_session:
                raise GalleryQuota(f"You have published {mine} runs to '{row.exercise}', the most one session may "
                                   "(so that every student's runs fit). Ask your teacher to remove old ones.")
        if self.min_interval_s > 0:
            last = session.scalar(select(func.max(_EntryRow.created_at)).where(_EntryRow.owner == row.owner))
            wait = (last or 0.0) + self.min_interval_s - row.created_at
            if last is not None and wait > 0:
                raise GalleryQuota(f"Please wait {math.ceil(wait)} s before publishing again.")

    def set_hidden(self, entry_id: int, hidden: bool = True) -> bool:
        """Hide (or show again) one entry; False when there is no such entry."""
        return self._write(lambda s: s.execute(update(_EntryRow).where(_EntryRow.id == entry_id)
                                               .values(hidden=hidden)).rowcount > 0)

    def delete(self, entry_id: int) -> bool:
        """Delete one entry; False when there is no such entry."""
        return self._write(lambda s: s.execute(delete(_EntryRow).where(_EntryRow.id == entry_id)).rowcount > 0)

    def delete_nickname(self, nickname: str, exercise: str | None = None) -> int:
        """Delete every entry published under a nickname (case and look-alike forms included), in one exercise
        or all; returns how many were deleted."""
        key = nickname_key(nickname)
        query = delete(_EntryRow).where(_EntryRow.nickname_key == key)
        if exercise is not None:
            query = query.where(_EntryRow.exercise == exercise)
        return self._write(lambda s: s.execute(query).rowcount)

    def nicknames(self, exercise: str | None = None) -> list[str]:
        """The nicknames that have entries (of one exercise, or all), sorted case-insensitively."""
        query = select(_EntryRow.nickname).distinct()
        if exercise is not None:
            query = query.where(_EntryRow.exercise == exercise)
        with self._reads() as session:
            return sorted(set(session.scalars(query)), key=str.casefold)

    def reset_exercise(self, exercise: str) -> int:
        """Delete every entry of an exercise; returns how many were deleted."""
        return self._write(lambda s: s.execute(delete(_EntryRow).where(_EntryRow.exercise == exercise)).rowcount)

    def set_pin(self, message: str, page: str, query: str = "") -> None:
        """Pin a message and a lesson link on the home page of every session (replaces the old pin)."""
        message = _clean_text(message, MAX_NOTES, "message")
        page = _clean_name(page, "page")
        query = _clean_text(query, MAX_QUERY, "link").lstrip("?")

        def work(session: Session) -> None:
            session.execute(delete(_PinRow))
            session.add(_PinRow(id=1, message=message, page=page, query=query, updated_at=time.time()))

        self._write(work)

    def clear_pin(self) -> None:
        """Remove the pinned note."""
        self._write(lambda s: s.execute(delete(_PinRow)))

    # ------------------------------------------------------------------ reading

    def pin(self) -> Pin | None:
        """The pinned note, or None."""
        with self._reads() as session:
            row = session.get(_PinRow, 1)
            return None if row is None else Pin(row.message, row.page, row.query, row.updated_at)

    def entries(self, exercise: str | None = None, include_hidden: bool = False,
                with_curves: bool = True) -> list[Entry]:
        """Entries (of one exercise, or all), best validation accuracy first, then oldest first.

        with_curves=False leaves the curves (the bulk of an entry) in the database: `curves(ids)` reads them
        for the runs actually drawn.
        """
        query = select(_EntryRow) if with_curves else select(_EntryRow).options(defer(_EntryRow.curves_json))
        if exercise is not None:
            query = query.where(_EntryRow.exercise == exercise)
        if not include_hidden:
            query = query.where(_EntryRow.hidden.is_(False))
        query = query.order_by(_EntryRow.val_accuracy.is_(None), _EntryRow.val_accuracy.desc(),
                               _EntryRow.created_at, _EntryRow.id)
        with self._reads() as session:
            return [_entry(row, with_curves) for row in session.scalars(query)]

    def curves(self, entry_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
        """The published curves of the given entries: {entry id: tidy rows}."""
        ids = sorted({int(i) for i in entry_ids})
        if not ids:
            return {}
        with self._reads() as session:
            rows = session.execute(select(_EntryRow.id, _EntryRow.curves_json).where(_EntryRow.id.in_(ids))).all()
        return {entry_id: json.loads(payload) for entry_id, payload in rows}

    def exercises(self) -> list[str]:
        """Names of the exercises that have at least one entry, sorted."""
        with self._reads() as session:
            return sorted(session.scalars(select(_EntryRow.exercise).distinct()))

    def count(self, exercise: str | None = None) -> int:
        """How many entries (hidden ones included) an exercise, or the gallery, holds."""
        query = select(func.count()).select_from(_EntryRow)
        if exercise is not None:
            query = query.where(_EntryRow.exercise == exercise)
        with self._reads() as session:
            return session.scalar(query) or 0


# ----------------------------------------------------------------------------- the process's one store

_SHARED: dict[str, GalleryStore] = {}
_SHARED_LOCK = threading.Lock()


def shared_store(url: str | None = None) -> GalleryStore:
    """The one GalleryStore of this process for a database URL (default: default_db_url()), made once under a lock.

    Server-wide state a client must not reset lives here, not in a Streamlit cache. Raises GalleryError when
    the database cannot be opened (the next call tries again).
    """
    url = url or default_db_url()
    store = _SHARED.get(url)
    if store is not None:
        return store
    with _SHARED_LOCK:
        if url not in _SHARED:
            _SHARED[url] = GalleryStore(url)
        return _SHARED[url]


def shared_engine(url: str | None = None) -> Engine:
    """The SQLAlchemy engine (connection pool, writes serialized as described above) of `shared_store(url)`."""
    return shared_store(url).engine


def close_shared_stores() -> None:
    """Close and forget every shared store (tests; a server shutting down)."""
    with _SHARED_LOCK:
        stores = list(_SHARED.values())
        _SHARED.clear()
    for store in stores:
        store.close()
