"""The Segmentation page's uploaders through the shared bad-input corpus (tests/bad_inputs), as the other pages'."""
import pytest
import torch

import cnn_core.vision.pretrained_segmenters as ps
from cnn_core.vision.segmentation import SegConfig, SegmentationRun
from pages.segmentation.sections import LABELS, STATE
from tests.bad_inputs import IMAGE, Upload
from tests.test_bad_inputs_apptest import Uploader, run_corpus

PAGE = "pages/11_Segmentation.py"
IMAGES = ("truncated.png", "empty.png", "not_an_image.png", "bomb_20000x20000.png", "animated.gif", "gray16.png",
          "cmyk.tif", "one_pixel.png", "strip_4000x2.png", "huge_12000x12000.png")


def _own_accepted(at, upload: Upload) -> bool:
    return any(c.value.startswith("Your image:") for c in at.caption)


def _photo_accepted(at, upload: Upload) -> bool:
    return any("on your upload" in cap for image in at.image for cap in image.captions)


@pytest.mark.slow
def test_own_image_uploader(corpus, valid):
    tiny = SegmentationRun(SegConfig(base=4, depth=2, train_scenes=16, val_scenes=4, canvas=32, epochs=1))
    uploader = Uploader(PAGE, "seg_upload", IMAGE, "image", _own_accepted, only=IMAGES,
                        session_state={STATE: {LABELS[True]: tiny}})
    problems = run_corpus(uploader, corpus, valid["image"])
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_pretrained_segmenter_photo_uploader(corpus, valid, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    entry = ps.SEGMENTERS["lraspp"]
    entry.cache_file().parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(ps.build("lraspp").state_dict(), entry.cache_file())  # the real file layout, random weights
    uploader = Uploader(PAGE, "pseg_upload", IMAGE, "image", _photo_accepted, only=IMAGES[:6])
    problems = run_corpus(uploader, corpus, valid["image"])
    assert not problems, "\n".join(problems)
