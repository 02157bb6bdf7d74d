"""The TensorBoard tab (pages/train/tensorboard.py): two sessions, each sees only its own runs."""
from __future__ import annotations

DEMO = "tests/apps/tensorboard_demo.py"


def log_run(at, name: str):
    at.text_input(key="name").input(name)
    return at.button(key="log").click().run()


def chart_runs(at) -> set[str]:
    """The runs the Scalars section offers (what it can draw)."""
    return {o for m in at.multiselect if m.key == "tb_runs" for o in m.options}


def test_each_session_sees_only_its_own_runs(app_test, tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_PLAYGROUND_RUNS", str(tmp_path / "runs"))
    alice, bob = app_test(DEMO, default_timeout=60).run(), app_test(DEMO, default_timeout=60).run()
    assert "No TensorBoard log in this session yet." in [i.value for i in alice.info]
    log_run(alice, "alice-run")
    log_run(bob, "bob-run-1")
    log_run(bob, "bob-run-2")
    assert not alice.exception and not bob.exception
    assert chart_runs(alice) == {"alice-run"}
    assert chart_runs(bob) == {"bob-run-1", "bob-run-2"}
    assert alice.session_state["tensorboard_session_id"] != bob.session_state["tensorboard_session_id"]
    folders = sorted(p.name for p in (tmp_path / "runs" / "sessions").iterdir())
    assert len(folders) == 2
    assert [s.options for s in alice.selectbox if s.key == "tb_hist_tag"] == [["weights/w"]]
    assert len(alice.get("download_button")) == 1
    assert not [b for b in alice.button if b.key == "tb_start"]  # not on localhost in AppTest: no local server
