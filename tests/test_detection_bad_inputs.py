"""The Detection page's uploaders through the shared bad-input corpus (tests/bad_inputs), as the other pages'."""
import pytest

from cnn_core.vision.detect_train import DetectConfig, DetectionRun, load_detector
from tests.bad_inputs import CHECKPOINT, IMAGE, REFUSE, Upload, marker_path
from tests.test_bad_inputs_apptest import Uploader, run_corpus

PAGE = "pages/10_Detection.py"


def _section(name: str):
    def setup(at) -> None:
        at.radio(key="det_section").set_value(name).run()
    return setup


def _faces_accepted(at, upload: Upload) -> bool:
    return any(cap.startswith("P-Net face probability") for image in at.image for cap in image.captions)


def _own_accepted(at, upload: Upload) -> bool:
    return any(" input: " in cap for image in at.image for cap in image.captions)


def _ckpt_accepted(at, upload: Upload) -> bool:
    return any(s.value.startswith("Restored a detector") for s in at.success)


@pytest.fixture(scope="module")
def detector_upload() -> Upload:
    run = DetectionRun(DetectConfig(train_scenes=64, val_scenes=8, epochs=1, batch_size=16, width=4))
    list(run.records())
    return Upload("detector.pt", run.checkpoint(), "application/octet-stream", frozenset({CHECKPOINT}), "accept",
                  "a detector checkpoint from this page")


IMAGES = ("truncated.png", "empty.png", "not_an_image.png", "bomb_20000x20000.png", "animated.gif", "gray16.png",
          "cmyk.tif", "one_pixel.png", "strip_4000x2.png")


@pytest.mark.slow
def test_faces_photo_uploader(corpus, valid, corpus_dir):
    uploader = Uploader(PAGE, "mt_photo", IMAGE, "image", _faces_accepted, setup=_section("Faces (MTCNN)"),
                        only=IMAGES)
    problems = run_corpus(uploader, corpus, valid["image"])
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_own_image_uploader(corpus, valid, detector_upload):
    model, _, _ = load_detector(detector_upload.data)
    uploader = Uploader(PAGE, "dt_own", IMAGE, "image", _own_accepted, setup=_section("Your image"), only=IMAGES,
                        session_state={"det_loaded": model})
    problems = run_corpus(uploader, corpus, valid["image"])
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_detector_checkpoint_uploader(corpus, corpus_dir, detector_upload):
    # every corpus checkpoint is refused here: even valid ones are classifiers, not detectors
    refused = [Upload(u.name, u.data, u.mime, u.targets, REFUSE, u.why) for u in corpus if CHECKPOINT in u.targets]
    uploader = Uploader(PAGE, "dt_upload", CHECKPOINT, "checkpoint", _ckpt_accepted,
                        setup=_section("Train the detector"))
    problems = run_corpus(uploader, refused, detector_upload)
    assert not marker_path(corpus_dir).exists(), "a malicious pickle was executed"
    assert not problems, "\n".join(problems)
