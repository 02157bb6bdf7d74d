"""The Segmentation page (AppTest): explorer numbers, bad settings, a short live training, offline weights."""
from __future__ import annotations

import pytest

import cnn_core.vision.pretrained_segmenters as ps
from cnn_core.training.zoo import WeightsUnavailable

PAGE = "pages/11_Segmentation.py"


def test_the_explorer_shows_the_formula_and_refuses_impossible_settings(app_test):
    at = app_test(PAGE, default_timeout=120).run()
    assert not at.exception and not at.error
    formula = [m.value for m in at.markdown if "Output size" in m.value]
    assert formula and formula[0].endswith("= 7`")  # (3-1) x 2 - 0 + 1 x (3-1) + 0 + 1
    at.number_input(key="up_p").set_value(6).run()
    assert not at.exception
    assert any("No output" in e.value and "Lower the padding" in e.value for e in at.error)
    at.number_input(key="up_p").set_value(0).run()
    at.number_input(key="up_op").set_value(2).run()
    assert any("output_padding must be smaller" in e.value for e in at.error)


@pytest.mark.slow
def test_training_both_networks_live_shows_their_metrics_and_the_why_views(app_test):
    at = app_test(PAGE, default_timeout=600).run()
    at.number_input(key="seg_epochs").set_value(1)
    at.select_slider(key="seg_scenes").set_value(250)
    at.button(key="seg_train").click().run()
    assert not at.exception and not at.error
    labels = [m.label for m in at.metric]
    assert "U-Net (skips on): mIoU" in labels and "Encoder-decoder (skips off): mIoU" in labels
    runs = at.session_state["seg_runs"]
    assert all(sum(r.kind == "epoch" for r in run.history) == 1 for run in runs.values())
    at.slider(key="seg_why_row").set_value(10).run()  # the Grad-CAM / receptive-field tab redraws
    assert not at.exception
    assert any("receptive field of a 3-level U-Net" in c.value for c in at.caption)
    trained = {label: run.history for label, run in runs.items()}
    at.button(key="seg_train").click().run()  # the same pair again: both come from the process-wide run cache
    assert not at.exception and set(at.session_state["seg_experiment"].from_cache) == set(trained)
    assert {label: run.history for label, run in at.session_state["seg_runs"].items()} == trained


def test_an_oversized_pair_is_refused_with_the_segmenters_budget_message(app_test, monkeypatch):
    monkeypatch.setenv("CNN_PLAYGROUND_MAX_RUN_SECONDS", "5")
    at = app_test(PAGE, default_timeout=120).run()
    at.select_slider(key="seg_scenes").set_value(4000)
    at.button(key="seg_train").click().run()
    assert not at.exception
    assert any("This segmenter would train for about" in e.value and "Lower the epochs" in e.value
               for e in at.error)
    assert not at.session_state["seg_runs"]  # nothing was built or trained


def test_pretrained_segmenters_offline_say_what_to_do(app_test, monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty torch hub cache

    def offline(entry, *args, **kwargs):
        raise WeightsUnavailable(f"Could not download the {entry.label} weights: no internet.")

    monkeypatch.setattr("pages.segmentation.pretrained.download_weights", offline, raising=False)
    at = app_test(PAGE, default_timeout=120).run()
    assert any("not on this server yet" in i.value for i in at.info)
    at.button(key="pseg_download").click().run()
    assert not at.exception
    assert any("no internet" in e.value for e in at.error)


def test_a_cached_segmenter_loads_and_paints_a_photo(tmp_path, monkeypatch):
    import torch
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    entry = ps.SEGMENTERS["lraspp"]
    entry.cache_file().parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(ps.build("lraspp").state_dict(), entry.cache_file())  # random weights in the real file layout
    segmenter = ps.load_segmenter("lraspp")
    assert len(segmenter.class_names) == 21 and segmenter.class_names[15] == "person"
    from cnn_core.data.samples import sample_photo
    mask, shares = ps.segment(segmenter, sample_photo("grace_hopper"))
    assert min(mask.shape) == 520 and abs(sum(shares.values()) - 1) < 1e-6
    assert ps.voc_palette()[15].tolist() == [192, 128, 128]  # Pascal VOC's colour of 'person'
    entry.cache_file().write_bytes(b"damaged")
    with pytest.raises(WeightsUnavailable, match="cannot be loaded"):
        ps.load_segmenter("lraspp")
