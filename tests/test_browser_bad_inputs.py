"""The bad-input corpus through the real browser upload widget (Chromium + a live server).

Pages: the Basic Layers convolution explorer (conv_upload), the Layer Visualization image uploader
(lv_upload, with LeNet-5 selected: fast on a CPU) and its checkpoint uploader (lv_ckpt). For each
file: the page shows no stException; a refused file gets an error/warning alert; an odd but valid
image is drawn; and the upload after a refusal is processed with no stale error.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.bad_inputs import ACCEPT, CHECKPOINT, EITHER, IMAGE, REFUSE, Upload, for_kind, interleaved, marker_path
from tests.helpers import IDLE_SELECTOR, act_and_wait_for_rerun, exception_texts, save_screenshot, wait_for_app_idle
from tests.test_bad_inputs_apptest import STANDING_NOTES

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# A browser rerun of these pages takes seconds on 2 cores, so by default the browser gets one file per
# kind of trouble (AppTest feeds every corpus file: tests/test_bad_inputs_apptest.py).
# BAD_INPUTS_FULL=1 feeds the whole corpus here too.
BROWSER_SUBSET = ("truncated.jpg", "not_an_image.png", "bomb_20000x20000.png", "cmyk.tif", "gray16.png",
                  "animated.gif", "exif_rotated.jpg", "strip_4000x2.png",
                  "truncated.pt", "plain_state_dict.pt", "malicious_torch.pt", "other_model_mlp.pt")

MESSAGE_ALERTS = '[data-testid="stAlertContentError"], [data-testid="stAlertContentWarning"]'


def messages(page) -> list[str]:
    shown = [el.inner_text()[:200] for el in page.query_selector_all(MESSAGE_ALERTS) if el.is_visible()]
    return [m for m in shown if not any(note in m for note in STANDING_NOTES)]  # guidance, not a stale message


def pick_option(page, key: str, option: str) -> None:
    """Choose `option` in the selectbox with widget key `key` (a rerun follows)."""
    page.locator(f".st-key-{key} input[role='combobox']").click()  # streamlit 1.67: a react-aria ComboBox
    act_and_wait_for_rerun(page, lambda: page.get_by_role("option", name=option, exact=True).click())


def pick_radio(page, key: str, label: str) -> None:
    act_and_wait_for_rerun(page, lambda: page.locator(f".st-key-{key}").get_by_text(label, exact=True).click())


# ------------------------------------------------------------------------------------ uploaders

def _conv_setup(page) -> None:
    pick_radio(page, "conv_source", "Upload your own")


def _conv_accepted(page) -> bool:
    # The convolution explorer draws the input under the kernel window, captioned "Input H x W ...".
    return page.locator('[data-testid="stImageCaption"]', has_text="the red window feeds output").count() > 0


def _lv_lenet(page) -> None:
    pick_option(page, "lv_model", "LeNet-5 (MNIST digits)")


def _lv_image_setup(page) -> None:
    _lv_lenet(page)
    pick_radio(page, "lv_source", "Upload")


def _lv_accepted(page) -> bool:
    return page.get_by_role("heading", name="What the network receives").count() > 0 and \
        page.locator('[data-testid="stImage"]').count() > 0


def _lv_ckpt_accepted(page) -> bool:
    chosen = page.locator(".st-key-lv_model input[role='combobox']").input_value()
    return "Uploaded checkpoint" in chosen and _lv_accepted(page)


@dataclass
class BrowserUploader:
    path: str                      # URL path of the page
    key: str                       # the file_uploader's key (CSS class st-key-<key>)
    kind: str
    valid: str                     # key of valid_inputs()
    setup: Callable | None
    accepted: Callable


UPLOADERS = {
    "basic_layers_conv": BrowserUploader("/Basic_Layers", "conv_upload", IMAGE, "image", _conv_setup, _conv_accepted),
    "layer_vis_image": BrowserUploader("/Layer_Visualization", "lv_upload", IMAGE, "image", _lv_image_setup,
                                       _lv_accepted),
    "layer_vis_checkpoint": BrowserUploader("/Layer_Visualization", "lv_ckpt", CHECKPOINT, "checkpoint", _lv_lenet,
                                            _lv_ckpt_accepted),
}


class BrowserSession:
    def __init__(self, page, base_url: str, uploader: BrowserUploader) -> None:
        self.page, self.url, self.uploader = page, base_url + uploader.path, uploader
        self.open()

    def open(self) -> None:
        self.page.goto(self.url)
        wait_for_app_idle(self.page, timeout_ms=180_000)
        assert not exception_texts(self.page), f"{self.url} fails before any upload"
        if self.uploader.setup:
            self.uploader.setup(self.page)

    def upload(self, path: Path, settle_s: float = 60.0) -> bool:
        """Choose the file in the real widget and wait for the page's answer; False if the widget is gone.

        Replacing the file of a single-file uploader can run the script twice (first without a file,
        then with the new one), so after the rerun this waits until the app is idle and shows an
        outcome: the upload drawn, an error/warning, or an exception (bounded by `settle_s`).
        """
        page = self.page
        target = page.locator(f'.st-key-{self.uploader.key} [data-testid="stFileUploaderDropzoneInput"]')
        try:  # right after the setup's rerun the widget may still be on its way into the DOM
            target.wait_for(state="attached", timeout=15_000)
        except PlaywrightTimeout:
            return False
        if target.count() != 1:
            return False
        act_and_wait_for_rerun(page, lambda: target.set_input_files(str(path)), timeout_ms=120_000)
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline:
            idle = page.locator(IDLE_SELECTOR).count() == 1
            if idle and (messages(page) or exception_texts(page) or self.uploader.accepted(page)):
                break
            page.wait_for_timeout(250)
        return True


# corpus_dir, corpus and valid are session fixtures in tests/conftest.py (shared with the other corpus tests)


@pytest.mark.parametrize("name", list(UPLOADERS))
def test_browser_upload_widget_survives_the_corpus(name, corpus, valid, corpus_dir, streamlit_server, browser_page):
    uploader = UPLOADERS[name]
    session = BrowserSession(browser_page, streamlit_server, uploader)
    page, problems, previous = browser_page, [], None
    files = for_kind(corpus, uploader.kind)
    if os.environ.get("BAD_INPUTS_FULL") != "1":
        files = [u for u in files if u.name in BROWSER_SUBSET]
    files = interleaved(files)
    good = valid[uploader.valid]

    def check_recovery(upload: Upload, ok: bool) -> None:
        nonlocal previous
        if previous is not None:
            if not ok or exception_texts(page) or not uploader.accepted(page) or messages(page):
                problems.append(f"{name}: after {previous}, the next upload {upload.name} fails: widget present={ok}, "
                                f"exceptions={[t[:120] for t in exception_texts(page)]}, stale={messages(page)}")
                session.open()
            previous = None

    for index, upload in enumerate(files):
        where, known = f"{name} <- {upload.name}", len(problems)
        ok = session.upload(corpus_dir / upload.name)
        if not ok:
            problems.append(f"{where}: the upload widget is not on the page (after {previous})")
            session.open()
            previous, ok = None, session.upload(corpus_dir / upload.name)
        if upload.expect == ACCEPT:
            check_recovery(upload, ok)
        crashed = exception_texts(page)
        if crashed:
            problems.append(f"{where}: stException {[t[:160] for t in crashed]}")
            save_screenshot(page, f"bad-input-{name}-{upload.name}-EXCEPTION", full_page=False)
        else:
            shown, said = uploader.accepted(page), messages(page)
            if upload.expect == ACCEPT and not shown:
                problems.append(f"{where}: should be shown; messages {said}")
            elif upload.expect == REFUSE and (shown or not said):
                problems.append(f"{where}: should be refused with a message; shown={shown}, messages={said}")
            elif upload.expect == EITHER and not (shown or said):
                problems.append(f"{where}: neither shown nor refused with a message")
        if upload.expect != ACCEPT or crashed:
            previous = upload.name
            following = files[index + 1] if index + 1 < len(files) else None
            if following is None or following.expect != ACCEPT:
                check_recovery(good, session.upload(corpus_dir / good.name))
        if len(problems) > known and not crashed:  # evidence for the report (artifacts/ is gitignored)
            save_screenshot(page, f"bad-input-{name}-{upload.name}-PROBLEM", full_page=False)
    save_screenshot(page, f"bad-input-{name}-last", full_page=False)
    assert not marker_path(corpus_dir).exists(), "a malicious pickle was executed"
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)
