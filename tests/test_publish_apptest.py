"""The "Publish to the class gallery" widget (pages/common/classroom/publish.py) through AppTest."""
from __future__ import annotations

import pytest

from cnn_core.classroom import GalleryStore

DEMO = "tests/apps/publish_demo.py"


@pytest.fixture
def store(tmp_path, monkeypatch):
    from pages.common.classroom.publish import gallery_store

    url = f"sqlite:///{tmp_path / 'gallery.sqlite3'}"
    monkeypatch.setenv("CNN_PLAYGROUND_DB", url)
    gallery_store.clear()
    s = GalleryStore(url)
    yield s
    s.close()
    gallery_store.clear()


def test_publish_stores_the_run_once_with_its_lesson_link(app_test, store):
    at = app_test(DEMO)
    at.query_params.update({"lr": "0.05"})
    at.run()
    assert not at.exception
    assert at.button(key="demo_pub_button").disabled  # no nickname yet
    at.text_input(key="gallery_nickname").input("ada").run()
    at.text_area(key="demo_pub_notes").input("first try").run()
    at.button(key="demo_pub_button").click().run()
    assert not at.exception and not at.error
    assert "Published as entry #1" in at.success[0].value
    at.button(key="demo_pub_button").click().run()  # a second click: the same run, stored once
    assert "entry #1" in at.success[0].value
    [entry] = store.entries()
    assert (entry.nickname, entry.notes, entry.seed, entry.page) == ("ada", "first try", 3, "7_Optimizers.py")
    assert entry.config == {"lr": 0.05, "optimizer": "sgd"} and entry.val_accuracy == pytest.approx(0.55)
    assert entry.metrics["val_loss"] is None  # NaN is stored as "no value"
    assert entry.query == "lr=0.05"  # opens this setup again
    assert len(entry.curves) <= 2000 and entry.curves[-1]["step"] == 3000  # thinned, last point kept


def test_a_full_exercise_is_a_message(app_test, store, monkeypatch):
    from pages.common.classroom.publish import gallery_store

    full = gallery_store()
    full.max_per_exercise = 0
    at = app_test(DEMO).run()
    at.text_input(key="gallery_nickname").input("bob").run()
    at.button(key="demo_pub_button").click().run()
    assert not at.exception
    assert "is full" in at.error[0].value and store.count() == 0
