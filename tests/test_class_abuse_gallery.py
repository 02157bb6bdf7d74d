"""One student must not fill the class gallery, and a full gallery must stay cheap to view.

Store-level tests use a GalleryStore on a temp SQLite file; page tests run pages/12_Gallery.py and the publish
widget through AppTest (whose script runs all carry one session id, so "another session" is set explicitly).
"""
from __future__ import annotations

import json
import unicodedata

import pytest

from cnn_core.classroom.gallery import (GalleryError, GalleryFull, GalleryQuota, GalleryStore, NewEntry,
                                        nickname_key, normalize_nickname)
from cnn_core.classroom.leaderboard import PAGE_ROWS, count_text, drawable_curves, exercise_title, readable

PAGE = "pages/12_Gallery.py"


def entry(nickname="ada", owner="s1", lr=0.1, acc=0.5, exercise="optimizers", seed=0, curves=None):
    return NewEntry(exercise=exercise, page="7_Optimizers.py", nickname=nickname, config={"lr": lr}, seed=seed,
                    metrics={"val_accuracy": acc}, owner=owner, curves=curves or [])


@pytest.fixture
def store(tmp_path):
    s = GalleryStore(f"sqlite:///{tmp_path / 'g.sqlite3'}", per_session=3, min_interval_s=0)
    yield s
    s.close()


# ------------------------------------------------------------------------------------------- store rules

def test_one_session_stops_at_its_quota_per_exercise_and_others_go_on(store):
    for i in range(3):
        store.publish(entry(lr=0.1 * (i + 1)))
    with pytest.raises(GalleryQuota, match="most one session"):
        store.publish(entry(lr=0.9))
    store.publish(entry(lr=0.9, exercise="init"))  # another exercise has its own share
    store.publish(entry(nickname="bob", owner="s2", lr=0.9))  # another student is not blocked
    assert store.count("optimizers") == 4


def test_publishing_too_fast_is_refused_with_the_wait(tmp_path):
    s = GalleryStore(f"sqlite:///{tmp_path / 'r.sqlite3'}", per_session=10, min_interval_s=30)
    s.publish(entry(lr=0.1))
    with pytest.raises(GalleryQuota, match=r"wait \d+ s"):
        s.publish(entry(lr=0.2))
    s.publish(entry(nickname="bob", owner="s2", lr=0.2))  # the rate is per session
    s.close()


def test_the_same_run_is_stored_once_per_nickname(store):
    first = store.publish(entry(lr=0.1))
    again = store.publish(entry(nickname="ADA", lr=0.1))  # new token, same run, same name (case aside)
    assert again == first and store.count() == 1
    assert store.publish(entry(lr=0.1, seed=1)) != first  # another seed is another run


def test_nicknames_are_normalized_and_invisible_characters_dropped():
    assert normalize_nickname("  ａｄａ\u200b  lovelace\u202e ") == "ada lovelace"  # NFKC, zero-width, bidi
    assert nickname_key("ADA") == nickname_key("ada") == nickname_key("ａｄａ") == "ada"
    assert all(unicodedata.category(c) not in ("Cf", "Cc") for c in normalize_nickname("a\u2066b\u2069\u200dc\x07"))
    with pytest.raises(GalleryError, match="visible"):
        normalize_nickname("\u200b\u200e\u2067")


def test_a_nickname_belongs_to_the_session_that_first_used_it(store):
    store.publish(entry(nickname="Ada", owner="s1", lr=0.1))
    with pytest.raises(GalleryError, match="Someone else"):
        store.publish(entry(nickname="ada\u200b", owner="s2", lr=0.2))  # a look-alike from another session
    store.publish(entry(nickname="ADA", owner="s1", lr=0.3))  # the same session reclaims it
    store.publish(entry(nickname="ada", owner="s2", lr=0.3, exercise="init"))  # unique per exercise only
    assert [e.nickname for e in store.entries("optimizers")] == ["Ada", "ADA"]


def test_hidden_entries_do_not_count_against_the_cap(tmp_path):
    s = GalleryStore(f"sqlite:///{tmp_path / 'c.sqlite3'}", max_per_exercise=2, per_session=0, min_interval_s=0)
    a = s.publish(entry(nickname="a", owner="1"))
    s.publish(entry(nickname="b", owner="2"))
    with pytest.raises(GalleryFull):
        s.publish(entry(nickname="c", owner="3"))
    s.set_hidden(a, True)
    s.publish(entry(nickname="c", owner="3"))
    assert s.count("optimizers") == 3 and len(s.entries("optimizers")) == 2
    s.close()


def test_the_teacher_removes_every_entry_of_one_nickname(store):
    store.publish(entry(nickname="Spam", owner="x", lr=0.1))
    store.publish(entry(nickname="spam", owner="x", lr=0.2))
    store.publish(entry(nickname="SPAM", owner="x", lr=0.1, exercise="init"))
    store.publish(entry(nickname="ada", owner="y", lr=0.1))
    assert store.delete_nickname("ｓｐａｍ", exercise="optimizers") == 2
    assert store.delete_nickname("spam") == 1
    assert [e.nickname for e in store.entries()] == ["ada"]


def test_an_old_gallery_file_gets_the_new_columns(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:  # the table as an older playground made it
        db.execute("CREATE TABLE gallery_entries (id INTEGER PRIMARY KEY, token VARCHAR(36) UNIQUE, created_at FLOAT, "
                   "exercise VARCHAR(64), page VARCHAR(64), nickname VARCHAR(32), notes VARCHAR(500), seed INTEGER, "
                   "val_accuracy FLOAT, config_json TEXT, metrics_json TEXT, curves_json TEXT, query VARCHAR(2000), "
                   "hidden BOOLEAN)")
        db.execute("INSERT INTO gallery_entries VALUES (1, 't', 0, 'optimizers', '7_Optimizers.py', 'Ada', '', 0, 0.5, "
                   "'{}', '{}', '[]', '', 0)")
    s = GalleryStore(f"sqlite:///{path}", min_interval_s=0)
    with pytest.raises(GalleryError, match="Someone else"):
        s.publish(entry(nickname="ADA", owner="s9"))  # the old entry's name is known case-folded
    s.close()


def test_curves_are_read_only_for_the_runs_asked(store):
    ids = [store.publish(entry(nickname=f"n{i}", owner=f"o{i}", curves=[{"epoch": 1, "value": float(i)}]))
           for i in range(3)]
    light = store.entries("optimizers", with_curves=False)
    assert [e.curves for e in light] == [[], [], []]
    assert store.curves([ids[1]]) == {ids[1]: [{"epoch": 1, "value": 1.0}]}


# ------------------------------------------------------------------------------------------- display helpers

def test_readable_names_titles_and_plurals():
    assert readable("metric.best_val_accuracy") == "best validation accuracy"
    assert readable("optimizer.name") == "optimizer name"
    assert readable("common.optimizer.lr") == "optimizer learning rate"
    assert exercise_title("train") == "Train" and exercise_title("weight-init") == "Weight init"
    assert (count_text(1), count_text(2), count_text(0)) == ("1 run", "2 runs", "0 runs")


def test_curves_use_epoch_rows_on_the_epoch_axis():
    import pandas as pd

    rows = [{"epoch": e, "step": s, "split": "train_step", "metric": "loss", "value": 1.0}
            for e in (1, 2) for s in range(e * 10 - 9, e * 10 + 1)]
    rows += [{"epoch": e, "step": e * 10, "split": "val", "metric": "loss", "value": 0.5} for e in (1, 2)]
    data, x = drawable_curves(pd.DataFrame(rows))
    assert x == "epoch" and data["epoch"].tolist() == [1, 2] and set(data["split"]) == {"val"}
    steps_only, x = drawable_curves(pd.DataFrame(rows[:20]))
    assert x == "step" and len(steps_only) == 20


# ------------------------------------------------------------------------------------------- the page

@pytest.fixture
def page_store(tmp_path, monkeypatch):
    from pages.common.classroom.publish import gallery_store

    url = f"sqlite:///{tmp_path / 'page.sqlite3'}"
    monkeypatch.setenv("CNN_PLAYGROUND_DB", url)
    monkeypatch.delenv("CNN_PLAYGROUND_TEACHER_TOKEN", raising=False)
    gallery_store.clear()
    s = GalleryStore(url, max_per_exercise=1000, per_session=0, min_interval_s=0)
    yield s
    s.close()
    gallery_store.clear()


def specs(at) -> list[str]:
    return [c.proto.spec for kind in ("vega_lite_chart", "arrow_vega_lite_chart") for c in at.get(kind)]


def test_settings_chart_shows_a_default_and_a_chosen_learning_rate(app_test, page_store):
    # a run at the default learning rate stores it as empty (None); the chart must still show the other settings
    for nickname, lr, acc in (("ann", None, 0.6), ("bob", 0.01, 0.7), ("cat", 0.1, 0.8)):
        page_store.publish(NewEntry(exercise="train", page="8_Train.py", nickname=nickname, seed=0,
                                    config={"optimizer.name": "adam", "optimizer.lr": lr},
                                    metrics={"val_accuracy": acc}))
    at = app_test(PAGE).run()
    assert not at.exception and not at.error
    assert at.selectbox(key="gal_x").value == "optimizer.lr"
    assert any('"validation accuracy"' in s and "learning rate" in s for s in specs(at))


def test_a_full_exercise_is_paged_and_curves_are_read_for_the_picked_runs_only(app_test, page_store, monkeypatch):
    curves = [{"run": "r", "epoch": e, "step": e, "split": "val", "metric": "accuracy", "value": 0.1 * e}
              for e in (1, 2, 3)]
    for i in range(120):
        page_store.publish(NewEntry(exercise="train", page="8_Train.py", nickname=f"s{i:03d}", seed=i,
                                    config={"lr": 0.001 * (i + 1)}, metrics={"val_accuracy": i / 200},
                                    curves=curves))
    asked = []
    original = GalleryStore.curves
    monkeypatch.setattr(GalleryStore, "curves", lambda self, ids: asked.append(list(ids)) or original(self, ids))
    loaded_with_curves = []
    entries = GalleryStore.entries
    monkeypatch.setattr(GalleryStore, "entries", lambda self, *a, **k: loaded_with_curves.append(
        k.get("with_curves", True)) or entries(self, *a, **k))
    at = app_test(PAGE).run()
    assert not at.exception and not at.error
    board = at.dataframe[0].value
    assert len(board) == PAGE_ROWS and board["rank"].tolist()[0] == 1
    assert "120 runs in the exercise **Train**" in at.caption[0].value
    assert loaded_with_curves == [False]  # the view reads no curves in bulk; a CSV is built only on a click
    assert len(asked) == 1 and len(asked[0]) == 3  # the three runs the curves tab draws
    at.number_input(key="gal_page").set_value(3).run()
    assert at.dataframe[0].value["rank"].tolist() == list(range(101, 121))
    page_store.publish(NewEntry(exercise="init", page="5_Weight_Initialization.py", nickname="solo", seed=0,
                                config={}, metrics={"val_accuracy": 0.5}))
    at.run()
    at.selectbox(key="gal_exercise").set_value("init").run()  # one page only: back to the first
    assert not at.exception and at.dataframe[0].value["nickname"].tolist() == ["solo"]


def test_leaderboard_columns_have_readable_names_and_one_run_is_singular(app_test, page_store):
    page_store.publish(NewEntry(exercise="train", page="8_Train.py", nickname="ann", seed=0,
                                config={"optimizer.name": "adam"}, metrics={"val_accuracy": 0.5,
                                                                           "best_val_accuracy": 0.6}))
    at = app_test(PAGE).run()
    assert not at.exception
    assert "1 run in the exercise **Train**" in at.caption[0].value
    page_store.publish(NewEntry(exercise="train", page="8_Train.py", nickname="bob", seed=0,
                                config={"optimizer.name": "sgd"}, metrics={"val_accuracy": 0.4}))
    at.run()
    columns = json.loads(at.dataframe[0].proto.columns)  # the column config Streamlit sends to the browser
    labels = {name: column.get("label") for name, column in columns.items()}
    assert labels["val_accuracy"] == "validation accuracy" and labels["optimizer.name"] == "optimizer name"
    sort = at.selectbox(key="gal_sort")
    assert "best validation accuracy" in sort.options and "metric.best_val_accuracy" not in sort.options
