"""The Gallery page and the teacher controls through AppTest, on a gallery in a temporary SQLite file."""
from __future__ import annotations

import io

import pandas as pd
import pytest

from cnn_core.classroom import GalleryStore, NewEntry
from cnn_core.classroom.tables import entries_frame, numeric_settings, spreadsheet_safe
from cnn_core.classroom.guesses import GuessGuard
from pages.common.classroom import teacher
from pages.common.classroom.teacher import token_matches

PAGE = "pages/12_Gallery.py"
TOKEN = "s3cret-teacher-token"


@pytest.fixture
def gallery(tmp_path, monkeypatch):
    """A store on a temporary SQLite file that the page (a fresh cached store) also opens."""
    from pages.common.classroom.publish import gallery_store

    url = f"sqlite:///{tmp_path / 'gallery.sqlite3'}"
    monkeypatch.setenv("CNN_PLAYGROUND_DB", url)
    monkeypatch.delenv("CNN_PLAYGROUND_TEACHER_TOKEN", raising=False)
    monkeypatch.setattr(teacher, "TOKEN_GUESSES", GuessGuard())  # AppTest's session id is the same in every test
    gallery_store.clear()
    store = GalleryStore(url)
    yield store
    store.close()
    gallery_store.clear()


def publish(store, nickname, lr, acc, exercise="optimizers"):
    return store.publish(NewEntry(
        exercise=exercise, page="7_Optimizers.py", nickname=nickname, seed=0,
        config={"optimizer": "sgd", "lr": lr, "batch_size": 64}, metrics={"val_accuracy": acc, "val_loss": 1 - acc},
        curves=[{"run": "sgd", "epoch": e, "step": e, "split": "val", "metric": "accuracy", "value": acc * e / 3}
                for e in (1, 2, 3)], query=f"lr={lr}"))


def test_empty_gallery_says_how_to_fill_it(app_test, gallery):
    at = app_test(PAGE).run()
    assert not at.exception and not at.error
    assert "Nothing published yet" in at.info[0].value
    assert not at.sidebar.text_input  # no token configured: no teacher controls at all


def test_leaderboard_chart_links_and_csv(app_test, gallery):
    ids = [publish(gallery, "ann", 0.1, 0.62), publish(gallery, "<b>bob</b>", 0.01, 0.93),
           publish(gallery, "=HYPERLINK(\"x\")", 0.001, 0.80), publish(gallery, "dee", 0.5, 0.1, "init")]
    at = app_test(PAGE).run()
    assert not at.exception and not at.error
    assert at.selectbox(key="gal_exercise").options == ["Init", "Optimizers"]  # readable titles
    at.selectbox(key="gal_exercise").set_value("optimizers").run()
    board = at.dataframe[0].value
    assert board["nickname"].tolist() == ["<b>bob</b>", "=HYPERLINK(\"x\")", "ann"]  # best first, text as text
    assert board["rank"].tolist() == [1, 2, 3] and "lr" in board.columns
    at.selectbox(key="gal_sort").set_value("lr").run()
    at.toggle(key="gal_ascending").set_value(True).run()
    assert at.dataframe[0].value["lr"].tolist() == [0.001, 0.01, 0.1]
    specs = [c.proto.spec for kind in ("vega_lite_chart", "arrow_vega_lite_chart") for c in at.get(kind)]
    assert any('"log"' in s and "val_accuracy" in s for s in specs)  # lr spans 100x: log axis
    assert at.selectbox(key="gal_open").value == ids[1]
    assert len(at.get("download_button")) == 2
    csv = pd.read_csv(io.StringIO(spreadsheet_safe(entries_frame(gallery.entries())).to_csv(index=False)))
    assert "'=HYPERLINK(\"x\")" in csv["nickname"].tolist()  # no formula runs in a spreadsheet


def test_wrong_token_gets_a_message_and_nothing_else(app_test, gallery, monkeypatch):
    monkeypatch.setenv("CNN_PLAYGROUND_TEACHER_TOKEN", TOKEN)
    publish(gallery, "ann", 0.1, 0.6)
    at = app_test(PAGE).run()
    at.sidebar.text_input[0].input("wrong")
    at.sidebar.button[0].click().run()
    assert [e.value for e in at.error] == ["Wrong token."]
    assert not any(b.key == "teacher_delete" for b in at.button)


def test_teacher_hides_deletes_resets_and_pins(app_test, gallery, monkeypatch):
    monkeypatch.setenv("CNN_PLAYGROUND_TEACHER_TOKEN", TOKEN)
    first, second = publish(gallery, "ann", 0.1, 0.6), publish(gallery, "bob", 0.2, 0.7)
    publish(gallery, "cat", 0.3, 0.5, "init")
    at = app_test(PAGE).run()
    at.sidebar.text_input[0].input(TOKEN)
    at.sidebar.button[0].click().run()
    assert not at.exception and not at.error
    at.number_input(key="teacher_entry").set_value(second).run()
    at.button(key="teacher_hide").click().run()
    assert [e.id for e in gallery.entries("optimizers")] == [first]  # students no longer see it
    at.button(key="teacher_delete").click().run()
    assert gallery.count("optimizers") == 1
    at.selectbox(key="teacher_reset_exercise").set_value("init").run()
    at.checkbox(key="teacher_reset_sure").check().run()
    at.button(key="teacher_reset").click().run()
    assert gallery.count("init") == 0 and gallery.count() == 1
    [t for t in at.text_area if t.label == "Message"][0].input("Exercise 3: beat **95 %** with SGD")
    [t for t in at.text_input if t.label.startswith("Link settings")][0].input("?lr=0.05&lock=lr")
    [b for b in at.button if b.label == "Pin"][0].click().run()
    assert not at.exception and not at.error
    pin = gallery.pin()
    assert (pin.message, pin.query) == ("Exercise 3: beat **95 %** with SGD", "lr=0.05&lock=lr")


def test_token_comparison():
    assert token_matches("abc", "abc") and not token_matches("abd", "abc") and not token_matches("", "")
    assert not token_matches("abc", "")


def test_numeric_settings_skip_constants_and_text():
    store_rows = pd.DataFrame({"id": [1, 2], "val_accuracy": [0.1, 0.2], "lr": [0.1, 0.01], "opt": ["a", "b"],
                               "seed": [0, 0], "batch_size": [64, 64], "augment": [True, False]})
    assert numeric_settings(store_rows) == ["lr"]


def test_pinned_note_shows_on_the_home_page_as_text(app_test, gallery, monkeypatch):
    monkeypatch.setenv("CNN_PLAYGROUND_TEACHER_TOKEN", TOKEN)  # a server with a teacher (only those have pins)
    at = app_test("playground.py").run()
    assert not at.exception and not any("From your teacher" in m.value for m in at.markdown)
    gallery.set_pin("Exercise 3: <b>beat</b> ![x](http://e.x/p.png)", "7_Optimizers.py", "lr=0.05&lock=lr")
    at = app_test("playground.py").run()
    assert not at.exception
    note = [m.value for m in at.markdown if "From your teacher" in m.value]
    assert note == [r"📌 **From your teacher:** Exercise 3: \<b\>beat\</b\> \!\[x\]\(http://e\.x/p\.png\)"]
    links = [p.proto for p in at.get("page_link") if "exercise" in p.proto.label.lower()]
    assert links and "lr=0.05" in links[0].query_string and "lock=lr" in links[0].query_string
    monkeypatch.delenv("CNN_PLAYGROUND_TEACHER_TOKEN")  # no teacher on this server: no pin, no database opened
    at = app_test("playground.py").run()
    assert not at.exception and not any("From your teacher" in m.value for m in at.markdown)
