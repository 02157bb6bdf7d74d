"""The bad-input corpus (tests/bad_inputs) through every file uploader of every page, under AppTest.

For each uploader and each corpus file meant for its kind (image / checkpoint / json):
- no ``at.exception`` (a traceback box) ever;
- a file that must be refused shows an ``st.error``/``st.warning`` and nothing that looks accepted;
- a valid-but-odd image (16-bit, CMYK, palette, EXIF, animated GIF, ...) is accepted and drawn;
- the VALID upload that follows is processed (its result appears, no stale error);
- the malicious pickles never run (their marker file never appears).

One test per uploader walks its whole list in one session (so a test reports every defect of that
uploader at once) and rebuilds the session only when an exception left it unusable.

AppTest on streamlit 1.67: ``at.file_uploader(key=K).set_value((name, bytes, mime))`` then
``at.run()`` (see streamlit/testing/v1/element_tree.py, class FileUploader). The name must pass the
uploader's ``type=`` filter, or the widget's deserializer raises (the browser filters the same
names in the file dialog). ``max_upload_size`` is enforced by the browser only, not by AppTest.
"""
from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.bad_inputs import ACCEPT, CHECKPOINT, EITHER, IMAGE, JSON, REFUSE, Upload, for_kind, interleaved, marker_path
from tests.helpers import PAGES_DIR, make_app_test

# ------------------------------------------------------------------------------------ uploaders

def _captions(at) -> list[str]:
    return [c.value for c in at.caption]


def _image_captions(at) -> list[str]:
    return [cap for image in at.image for cap in image.captions]


def _conv_setup(at) -> None:
    at.radio(key="conv_source").set_value("Upload your own").run()


def _conv_accepted(at, upload: Upload) -> bool:
    # The convolution explorer draws the (gray) input with the kernel window: caption "Input H x W ..."
    return any(cap.startswith("Input ") for cap in _image_captions(at))


def _lv_image_setup(model: str) -> Callable:
    def setup(at) -> None:
        at.selectbox(key="lv_model").set_value(model).run()
        at.radio(key="lv_source").set_value("Upload").run()
    return setup


def _lv_image_accepted(at, upload: Upload) -> bool:
    return any(h.value == "What the network receives" for h in at.subheader) and "network input" in \
        _image_captions(at)


def _lv_ckpt_accepted(at, upload: Upload) -> bool:
    # The chosen network's caption starts with its label, which is the uploaded file's name.
    return at.selectbox(key="lv_model").value == "upload" and any(upload.name in c for c in _captions(at)) \
        and len(at.image) > 0


def _arch_accepted(at, upload: Upload) -> bool:
    # valid_architecture_json: conv(4, 3x3) -> relu -> flatten -> linear(10) on 1x28x28 = 40 + 27,050 params.
    # A refused file keeps the previous design, so "no load error" is part of "this file was loaded".
    return any(m.label == "Parameters" and m.value == "27,090" for m in at.metric) \
        and not at.session_state["arch_json_error"]


def _opt_import(at) -> None:
    at.button(key="opt_import").click()


def _opt_accepted(at, upload: Upload) -> bool:
    return any(s.value.startswith("Loaded ") for s in at.success)


def _train_accepted(at, upload: Upload) -> bool:
    return any(s.value.startswith("Checkpoint of ") for s in at.success)


@dataclass
class Uploader:
    page: str
    key: str
    kind: str                                            # image / checkpoint / json
    valid: str                                           # key of valid_inputs()
    accepted: Callable[[object, Upload], bool]           # did the page process this upload?
    setup: Callable | None = None                        # bring the uploader on screen
    after_set: Callable | None = None                    # e.g. press the page's "Load" button
    only: tuple[str, ...] = ()                           # a subset of the corpus (empty = all of the kind)
    session_state: dict = field(default_factory=dict)    # set before the first run

    @property
    def id(self) -> str:
        return f"{Path(self.page).stem}:{self.key}"


UPLOADERS = [
    Uploader("pages/2_Architecture.py", "arch_json_file", JSON, "json_arch", _arch_accepted),
    Uploader("pages/3_Basic_Layers.py", "conv_upload", IMAGE, "image", _conv_accepted, setup=_conv_setup),
    # LeNet-5 here (fast on a CPU); the ImageNet model's own resize path is tested below on the
    # files whose geometry matters to it.
    Uploader("pages/4_Layer_Visualization.py", "lv_upload", IMAGE, "image", _lv_image_accepted,
             setup=_lv_image_setup("lenet5-mnist"), session_state={"lv_model": "lenet5-mnist"}),
    Uploader("pages/4_Layer_Visualization.py", "lv_ckpt", CHECKPOINT, "checkpoint", _lv_ckpt_accepted,
             session_state={"lv_model": "lenet5-mnist"}),
    Uploader("pages/7_Optimizers.py", "opt_import_file", JSON, "json_settings", _opt_accepted,
             after_set=_opt_import),
    Uploader("pages/8_Train.py", "tr_upload", CHECKPOINT, "checkpoint", _train_accepted),
]
# Uploaders of the vision pages, fed the same corpus by their own test files (they need a trained model or
# cached weights in place first).
COVERED_ELSEWHERE = {
    "mt_photo": "tests/test_detection_bad_inputs.py", "dt_own": "tests/test_detection_bad_inputs.py",
    "dt_upload": "tests/test_detection_bad_inputs.py", "seg_upload": "tests/test_segmentation_bad_inputs.py",
    "pseg_upload": "tests/test_segmentation_bad_inputs.py",
}
# The default ImageNet network: photo-style resize + center crop, where shape and size matter.
EFFICIENTNET_IMAGE_UPLOADER = Uploader(
    "pages/4_Layer_Visualization.py", "lv_upload", IMAGE, "image", _lv_image_accepted,
    setup=_lv_image_setup("efficientnet-lite0"),
    only=("exif_rotated.jpg", "phone_photo_4000x3000.jpg", "one_pixel.png", "strip_4000x2.png"))


# --------------------------------------------------------------------------------------- runner

# Guidance a page shows for a perfectly valid input too, so never a stale message: a digit network (LeNet-5, a
# valid checkpoint) shown the default sample photo warns that it only knows digits; a channel of a (barely
# trained) checkpoint that no input makes fire is named as such under the feature-visualization grid.
STANDING_NOTES = ("only knows the handwritten digits", "so no input makes this channel fire")


def _messages(at) -> list[str]:
    shown = [e.value for e in at.error] + [w.value for w in at.warning]
    return [m for m in shown if not any(note in m for note in STANDING_NOTES)]


def _exceptions(at) -> list[str]:
    """Type and last stack lines of each exception (the message itself is redacted by
    client.showErrorDetails = "type" in .streamlit/config.toml)."""
    return [" | ".join([e.proto.type or "?"] + [line.strip() for line in e.stack_trace[-2:]])[:400]
            for e in at.exception]


class Session:
    """One AppTest session on an uploader's page, rebuilt when an exception made it unusable."""

    def __init__(self, uploader: Uploader) -> None:
        self.uploader = uploader
        self.at = None
        self.restart()

    def restart(self) -> None:
        at = make_app_test(self.uploader.page, default_timeout=120)
        for k, v in self.uploader.session_state.items():
            at.session_state[k] = v
        at.run()
        assert not at.exception, f"{self.uploader.page} fails before any upload: {_exceptions(at)}"
        if self.uploader.setup:
            self.uploader.setup(at)
        assert not at.exception, f"{self.uploader.id} setup failed: {_exceptions(at)}"
        self.at = at

    def upload(self, upload: Upload):
        """Set the file (and press the page's load button); None when the uploader is not on screen."""
        at = self.at
        try:
            widget = at.file_uploader(key=self.uploader.key)
        except KeyError:
            return None
        widget.set_value(upload.as_upload())
        if self.uploader.after_set:
            self.uploader.after_set(at)
        return at.run()


def run_corpus(uploader: Uploader, corpus: list[Upload], valid: Upload) -> list[str]:
    """Feed every file; return one line per problem (empty = the uploader passes).

    After a refused file (or a crash), the next upload must be processed with no stale message: an
    accepted corpus file when one comes next, else the uploader's VALID file.
    """
    problems: list[str] = []
    session = Session(uploader)
    files = interleaved([u for u in for_kind(corpus, uploader.kind) if not uploader.only or u.name in uploader.only])
    assert files, f"no corpus file for {uploader.id}"
    previous: str | None = None  # the refused/crashed file the next upload must recover from

    def check_recovery(at, upload: Upload) -> None:
        nonlocal previous
        if previous is None:
            return
        if at is None or at.exception or not uploader.accepted(at, upload) or _messages(at):
            problems.append(f"{uploader.id}: after {previous}, the next upload {upload.name} fails: "
                            + ("the uploader is gone (the page must be reloaded)" if at is None else
                               f"exception={_exceptions(at)}, shown={not at.exception and uploader.accepted(at, upload)}, "
                               f"stale messages={_messages(at)}"))
            session.restart()
        previous = None

    for index, upload in enumerate(files):
        where = f"{uploader.id} <- {upload.name} ({upload.why})"
        at = session.upload(upload)
        if at is None:
            problems.append(f"{where}: the uploader is not on the page (after {previous})")
            session.restart()
            previous, at = None, session.upload(upload)
        if upload.expect == ACCEPT:
            check_recovery(at, upload)
        if at.exception:
            problems.append(f"{where}: EXCEPTION {_exceptions(at)}")
        else:
            accepted, messages = uploader.accepted(at, upload), _messages(at)
            if upload.expect == ACCEPT and not accepted:
                problems.append(f"{where}: should be accepted and shown; messages: {messages}")
            elif upload.expect == REFUSE and (accepted or not messages):
                problems.append(f"{where}: should be refused with a message; accepted={accepted}, "
                                f"messages={messages}")
            elif upload.expect == EITHER and not (accepted or messages):
                problems.append(f"{where}: neither shown nor refused with a message")
            if any("Traceback" in m for m in messages):
                problems.append(f"{where}: a message shows a traceback: {messages}")
        if upload.expect != ACCEPT or at.exception:
            previous = upload.name
            following = files[index + 1] if index + 1 < len(files) else None
            if following is None or following.expect != ACCEPT:
                check_recovery(session.upload(valid), valid)
    return problems


# corpus_dir, corpus and valid are session fixtures in tests/conftest.py (shared with the other corpus tests)


# ----------------------------------------------------------------------------------------- tests

def _uploader_calls() -> list[tuple[str, int, str | None]]:
    """(page file, line, key) of every st.file_uploader call in pages/*.py and pages/common/*.py."""
    calls = []
    for path in sorted(PAGES_DIR.glob("*.py")) + sorted((PAGES_DIR / "common").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) \
                    == "file_uploader":
                key = next((kw.value.value for kw in node.keywords
                            if kw.arg == "key" and isinstance(kw.value, ast.Constant)), None)
                calls.append((str(path.relative_to(PAGES_DIR.parent)), node.lineno, key))
    return calls


def test_every_file_uploader_has_a_key_and_is_covered_by_the_corpus_tests():
    calls = _uploader_calls()
    assert calls, "no st.file_uploader found in pages/"
    keyless = [f"{page}:{line}" for page, line, key in calls if key is None]
    assert not keyless, f"file_uploader without a constant key= (tests cannot reach it): {keyless}"
    found = {key: page for page, _, key in calls}  # a helper in pages/common is drawn by a page: match keys
    covered = {u.key for u in UPLOADERS} | set(COVERED_ELSEWHERE)
    missing = {key: page for key, page in found.items() if key not in covered}
    assert not missing, f"uploaders not fed the bad-input corpus (add them to UPLOADERS): {missing}"


def test_corpus_has_every_kind_of_bad_file(corpus, corpus_dir):
    names = {u.name for u in corpus}
    for required in ("truncated.png", "truncated.jpg", "empty.png", "not_an_image.png", "bomb_20000x20000.png",
                     "huge_12000x12000.png", "animated.gif", "gray16.png", "cmyk.jpg", "cmyk.tif",
                     "palette_transparent.png", "exif_rotated.jpg", "malformed.json", "arch_wrong_types.json",
                     "settings_wrong_types.json", "other_model_mlp.pt", "plain_state_dict.pt",
                     "malicious_pickle.pt", "malicious_torch.pt"):
        assert required in names
        assert (corpus_dir / required).stat().st_size == len(next(u for u in corpus if u.name == required).data)
    bomb = next(u for u in corpus if u.name == "bomb_20000x20000.png")
    assert len(bomb.data) < 100_000  # a small file ...
    assert int.from_bytes(bomb.data[16:20], "big") * int.from_bytes(bomb.data[20:24], "big") == 400_000_000
    for u in corpus:
        assert u.targets <= {IMAGE, CHECKPOINT, JSON} and u.expect in (ACCEPT, REFUSE, EITHER), u


def test_malicious_pickles_would_really_run_code_without_weights_only(corpus, corpus_dir, tmp_path):
    """Proof that the corpus pickles are armed: plain pickle.loads creates the marker (in a scratch copy)."""
    import pickle

    from tests.bad_inputs import build_corpus
    armed = next(u for u in build_corpus(tmp_path) if u.name == "malicious_pickle.pt")
    pickle.loads(armed.data)  # what torch.load(weights_only=False) would do
    assert marker_path(tmp_path).exists()
    assert not marker_path(corpus_dir).exists()


@pytest.mark.slow
@pytest.mark.parametrize("uploader", UPLOADERS + [EFFICIENTNET_IMAGE_UPLOADER],
                         ids=[u.id for u in UPLOADERS] + ["4_Layer_Visualization:lv_upload[efficientnet]"])
def test_uploader_survives_the_bad_input_corpus(uploader, corpus, valid, corpus_dir):
    problems = run_corpus(uploader, corpus, valid[uploader.valid])
    assert not marker_path(corpus_dir).exists(), "a malicious pickle was executed"
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)


@pytest.mark.slow
def test_train_page_refuses_to_warm_start_or_restore_a_checkpoint_of_another_model(corpus, app_test):
    """An MLP checkpoint loads, but restoring it as a run or into the sidebar's LeNet-5 is refused."""
    other = next(u for u in corpus if u.name == "other_model_mlp.pt")
    at = app_test("pages/8_Train.py").run()
    at.file_uploader(key="tr_upload").set_value(other.as_upload()).run()
    assert not at.exception
    for button in ("tr_warm", "tr_restore"):
        at.button(key=button).click().run()
        assert not at.exception, (button, [e.value for e in at.exception])
        assert any("mlp" in e.value.lower() or "architecture" in e.value.lower() for e in at.error), \
            (button, [e.value for e in at.error])
        assert "train_run" not in at.session_state, "a refused checkpoint must not become the session's run"
