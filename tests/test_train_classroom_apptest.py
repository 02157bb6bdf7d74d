"""The Train page in a class (AppTest): a lesson link sets it up, the run publishes to the gallery, and the
TensorBoard tab shows this session's run from its own folder."""
from __future__ import annotations

import pytest

from cnn_core.classroom import GalleryStore

LINK = {"tr_per_class": "50", "tr_epochs": "1", "tr_tensorboard": "true", "tr_seed": "3"}


@pytest.fixture
def classroom(tmp_path, monkeypatch):
    from pages.common.classroom.publish import gallery_store

    url = f"sqlite:///{tmp_path / 'gallery.sqlite3'}"
    monkeypatch.setenv("CNN_PLAYGROUND_DB", url)
    monkeypatch.setenv("CNN_PLAYGROUND_RUNS", str(tmp_path / "runs"))
    gallery_store.clear()
    store = GalleryStore(url)
    yield store, tmp_path / "runs"
    store.close()
    gallery_store.clear()


@pytest.mark.slow
def test_link_train_publish_and_session_tensorboard(app_test, classroom):
    store, runs = classroom
    at = app_test("pages/8_Train.py", default_timeout=180)
    at.query_params.update(LINK)
    at.run()
    assert not at.exception and not [w for w in at.warning if "could not be used" in w.value]
    assert (at.number_input(key="tr_per_class").value, at.slider(key="tr_epochs").value) == (50, 1)
    assert at.checkbox(key="tr_tensorboard").value is True
    at.button(key="tr_train").click().run()
    assert not at.exception, [e.value for e in at.exception]
    at.text_input(key="gallery_nickname").input("ada").run()
    at.button(key="tr_pub_button").click().run()
    assert not at.exception and not at.error
    [entry] = store.entries("train")
    assert entry.nickname == "ada" and entry.seed == 3 and entry.page == "8_Train.py"
    assert entry.config["per_class"] == 50 and entry.config["epochs"] == 1
    assert 0.0 <= entry.val_accuracy <= 1.0 and 0.0 <= entry.metrics["test_accuracy"] <= 1.0
    assert "tr_per_class=50" in entry.query and "tr_seed=3" in entry.query
    assert any(row["split"] == "val" for row in entry.curves)
    # TensorBoard: the run logged under this session's own folder, and the tab reads it back
    [session] = list((runs / "sessions").iterdir())
    assert session.name == at.session_state["tensorboard_session_id"]
    [run_dir] = [p for p in session.iterdir() if p.is_dir()]
    assert {o for m in at.multiselect if m.key == "tb_runs" for o in m.options} == {run_dir.name}


@pytest.mark.slow
def test_an_optimizer_comparison_publishes_its_best_run(app_test, classroom):
    store, _ = classroom
    at = app_test("pages/7_Optimizers.py", default_timeout=180)
    at.query_params.update({"cnn_per_class": "10", "cnn_epochs": "3"})  # a lesson link sets the setup
    at.run()
    assert (at.number_input(key="cnn_per_class").value, at.number_input(key="cnn_epochs").value) == (10, 3)
    at.button(key="cnn_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    at.text_input(key="gallery_nickname").input("grace").run()
    at.button(key="cnn_pub_button").click().run()
    assert not at.exception and not at.error
    [entry] = store.entries("optimizers")
    runs = [k for k in entry.config if k not in ("common", "best_run")]
    assert len(runs) == 2 and entry.config["best_run"] in runs
    assert entry.config["common"]["per_class"] == 10 and entry.config["common"]["epochs"] == 3
    per_run = {k: v for k, v in entry.metrics.items() if k.startswith("val_accuracy ")}
    assert len(per_run) == 2 and entry.val_accuracy == pytest.approx(max(per_run.values()))
    assert "cnn_per_class=10" in entry.query and "cnn_epochs=3" in entry.query
