"""The class gallery on a real database: SQLite (WAL) always, PostgreSQL when CNN_PLAYGROUND_TEST_PG_URL is set."""
from __future__ import annotations

import sqlite3
import threading
import uuid

import pytest
from sqlalchemy import create_engine, text

from cnn_core.classroom import (GalleryError, GalleryFull, GalleryStore, NewEntry, default_db_url, escape_markdown,
                                playground_data_dir)
from tests.helpers import pg_test_url

WRITERS = 30



@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """A fresh gallery on each backend (the PostgreSQL one in its own schema, dropped afterwards)."""
    if request.param == "sqlite":
        s = GalleryStore(f"sqlite:///{tmp_path / 'gallery.sqlite3'}", max_per_exercise=40, max_total=1000)
        yield s
        s.close()
        return
    base = pg_test_url()
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    s = GalleryStore(f"{base}{sep}options=-csearch_path%3D{schema}", max_per_exercise=40, max_total=1000)
    try:
        yield s
    finally:
        s.close()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def entry(i: int = 0, exercise: str = "optimizers", **changes) -> NewEntry:
    values = dict(exercise=exercise, page="7_Optimizers.py", nickname=f"student{i}",
                  config={"optimizer": "adam", "lr": 10.0 ** -(i % 4 + 1), "batch_size": 64}, seed=i,
                  metrics={"val_accuracy": (i % 10) / 10, "val_loss": 1.0 + i},
                  curves=[{"run": "adam", "epoch": e, "step": e * 10, "split": "val", "metric": "loss",
                           "value": 2.0 / (e + 1)} for e in range(3)],
                  query=f"opt=adam&lr={10.0 ** -(i % 4 + 1):g}")
    values.update(changes)
    return NewEntry(**values)


def publish_concurrently(store: GalleryStore, entries: list[NewEntry]) -> tuple[list, list]:
    """Publish each entry from its own thread, all released at once; (ids, errors)."""
    barrier = threading.Barrier(len(entries))
    ids, errors, lock = [], [], threading.Lock()

    def work(e: NewEntry) -> None:
        barrier.wait()
        try:
            result = store.publish(e)
        except Exception as exc:  # collected: the assertions say which
            with lock:
                errors.append(exc)
        else:
            with lock:
                ids.append(result)

    threads = [threading.Thread(target=work, args=(e,)) for e in entries]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return ids, errors


def test_thirty_concurrent_writers_each_stored_once(store):
    entries = [entry(i) for i in range(WRITERS)]
    ids, errors = publish_concurrently(store, entries)
    assert errors == []  # no "database is locked", nothing refused
    assert len(ids) == len(set(ids)) == WRITERS
    stored = store.entries("optimizers")
    assert sorted(e.nickname for e in stored) == sorted(e.nickname for e in entries)
    assert store.count() == WRITERS
    # the same publishes retried (a double click, a rerun): still one entry each
    again, errors = publish_concurrently(store, entries)
    assert errors == [] and sorted(again) == sorted(ids) and store.count() == WRITERS


def test_bound_is_exact_under_concurrency(store):
    store.max_per_exercise = 20
    ids, errors = publish_concurrently(store, [entry(i, exercise="race") for i in range(WRITERS)])
    assert len(ids) == 20 and store.count("race") == 20
    assert len(errors) == 10 and all(isinstance(e, GalleryFull) for e in errors)
    assert "full (20 runs)" in str(errors[0])
    store.max_total = 20
    with pytest.raises(GalleryFull, match="class gallery is full"):
        store.publish(entry(99, exercise="other"))


def test_round_trip_leaderboard_order_and_teacher_actions(store):
    a = store.publish(entry(1, metrics={"val_accuracy": 0.5}))
    b = store.publish(entry(2, metrics={"val_accuracy": 0.9}))
    c = store.publish(entry(3, metrics={"val_accuracy": float("nan")}))  # diverged: no accuracy, last
    store.publish(entry(4, exercise="init"))
    rows = store.entries("optimizers")
    assert [r.id for r in rows] == [b, a, c]
    assert rows[0].config == {"optimizer": "adam", "lr": 0.001, "batch_size": 64}
    assert rows[0].curves[2] == {"run": "adam", "epoch": 2, "step": 20, "split": "val", "metric": "loss",
                                 "value": pytest.approx(2 / 3)}
    assert rows[2].val_accuracy is None and rows[2].metrics["val_accuracy"] is None
    assert store.exercises() == ["init", "optimizers"]
    assert store.set_hidden(b) and [r.id for r in store.entries("optimizers")] == [a, c]
    assert [r.id for r in store.entries("optimizers", include_hidden=True)] == [b, a, c]
    assert store.delete(a) and not store.delete(a)
    assert store.reset_exercise("optimizers") == 2 and store.count("optimizers") == 0 and store.count() == 1
    assert store.pin() is None
    store.set_pin("Exercise 3: beat 95 %", "7_Optimizers.py", "?opt=sgd&lr=0.1")
    store.set_pin("Exercise 4", "8_Train.py", "epochs=3")
    pin = store.pin()
    assert (pin.message, pin.page, pin.query) == ("Exercise 4", "8_Train.py", "epochs=3")
    store.clear_pin()
    assert store.pin() is None


@pytest.mark.parametrize("changes, message", [
    ({"nickname": ""}, "enter a nickname"),
    ({"nickname": "x" * 33}, "nickname is too long"),
    ({"notes": "n" * 501}, "notes is too long"),
    ({"exercise": "../../etc"}, "Unknown exercise"),
    ({"page": "https://evil.example/x.py"}, "Unknown page"),
    ({"config": {"blob": "x" * 20_000}}, "config is too large"),
    ({"curves": [{"value": 1.0}] * 2001}, "curve points"),
    ({"metrics": {f"m{i}": 1.0 for i in range(33)}}, "metrics"),
    ({"seed": -1}, "seed"),
    ({"seed": 2**40}, "seed"),
    ({"query": "https://evil.example/?a=1"}, "query string of this playground"),
    ({"query": "a=" + "1" * 2000}, "link is too long"),
])
def test_oversized_or_odd_entries_are_refused_with_a_message(tmp_path, changes, message):
    store = GalleryStore(f"sqlite:///{tmp_path / 'g.sqlite3'}")
    with pytest.raises(GalleryError, match=message):
        store.publish(entry(1, **changes))
    assert store.count() == 0


def test_text_is_stored_verbatim_and_escaped_for_markdown(tmp_path):
    store = GalleryStore(f"sqlite:///{tmp_path / 'g.sqlite3'}")
    nasty = "<img src=x onerror=alert(1)>"
    store.publish(entry(1, nickname="**bold** [x](javascript:alert(1))"[:32], notes=nasty + "\nline two"))
    row = store.entries()[0]
    assert row.notes == nasty + "\nline two" and row.nickname.startswith("**bold**")
    escaped = escape_markdown(row.nickname)
    assert escaped.startswith(r"\*\*bold\*\* \[x\]\(javascript:alert\(1\)")
    assert escape_markdown("<b>") == r"\<b\>"


def test_default_is_sqlite_in_wal_mode_under_the_data_folder(tmp_path, monkeypatch):
    from cnn_core.data.datasets import default_data_dir

    monkeypatch.delenv("CNN_PLAYGROUND_DB", raising=False)
    monkeypatch.setenv("CNN_PLAYGROUND_DATA", str(tmp_path / "data"))
    assert playground_data_dir() == default_data_dir() == tmp_path / "data"
    assert default_db_url() == f"sqlite:///{tmp_path / 'data' / 'classroom' / 'gallery.sqlite3'}"
    store = GalleryStore.from_env()
    store.publish(entry(1))
    store.close()
    with sqlite3.connect(tmp_path / "data" / "classroom" / "gallery.sqlite3") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT nickname FROM gallery_entries").fetchall() == [("student1",)]
    monkeypatch.setenv("CNN_PLAYGROUND_DB", "postgresql+psycopg://u:secret@db.example/class")
    assert default_db_url() == "postgresql+psycopg://u:secret@db.example/class"


def test_unreachable_database_is_a_message(tmp_path):
    with pytest.raises(GalleryError, match="cannot be opened") as info:
        GalleryStore("postgresql+psycopg://u:secret@127.0.0.1:1/nothing")
    assert "secret" not in str(info.value)
