"""Basic Layers with the keyboard only: Tab to the stride, arrow it up, and the output size follows (PyTorch's);
arrows move between the tabs."""
from __future__ import annotations

import re

import pytest
import torch

from tests.helpers import assert_no_exception, wait_for_app_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

MAX_TABS = 120  # key presses allowed to reach a control from the top of the page


def sizes(page) -> tuple[tuple[int, int], tuple[int, int]]:
    """(input H, W) and (output H, W) from the explorer's image captions ("Input 40 x 64 ...")."""
    captions = [c.inner_text() for c in page.get_by_test_id("stImageCaption").all()]
    found = {}
    for caption in captions:
        for name in ("Input", "Output feature map"):
            m = re.match(rf"{name} (\d+) x (\d+)", caption)
            if m and name not in found:
                found[name] = (int(m.group(1)), int(m.group(2)))
    assert set(found) == {"Input", "Output feature map"}, captions
    return found["Input"], found["Output feature map"]


def tab_to(page, selector: str) -> int:
    """Press Tab until the focused element is inside `selector`; return how many presses it took."""
    for presses in range(1, MAX_TABS + 1):
        page.keyboard.press("Tab")
        if page.evaluate("s => !!document.activeElement && !!document.activeElement.closest(s)", selector):
            return presses
    raise AssertionError(f"{selector} not reached with {MAX_TABS} Tab presses")


def wait_for_rerun(page, before: str, timeout_ms: int = 120_000) -> None:
    """Wait until the output caption differs from `before` and the run has ended."""
    page.wait_for_function(
        """before => [...document.querySelectorAll('[data-testid="stImageCaption"]')]
             .some(c => c.innerText.startsWith('Output feature map') && c.innerText !== before)""",
        arg=before, timeout=timeout_ms)
    wait_for_app_idle(page, timeout_ms)


def test_stride_changed_with_tab_and_arrow_keys(streamlit_server, browser_page):
    page = browser_page
    page.goto(f"{streamlit_server}/Basic_Layers")
    wait_for_app_idle(page, timeout_ms=180_000)
    assert_no_exception(page, "Basic Layers")
    # the explorer's pictures arrive after the first script run is marked idle on a busy machine
    page.get_by_test_id("stImageCaption").filter(has_text="Output feature map").first.wait_for(timeout=180_000)
    (height, width), out1 = sizes(page)
    stride = page.locator(".st-key-conv_stride input")
    assert stride.input_value() == "1"
    kernel = height - out1[0] + 1  # stride 1, no padding: out = in - k + 1

    tab_to(page, ".st-key-conv_stride input")
    before = next(c.inner_text() for c in page.get_by_test_id("stImageCaption").all()
                  if c.inner_text().startswith("Output feature map"))
    page.keyboard.press("ArrowUp")
    assert stride.input_value() == "2"
    page.keyboard.press("Enter")  # commits the value: the page reruns
    wait_for_rerun(page, before)
    assert_no_exception(page, "after the stride changed")
    assert stride.input_value() == "2"
    reference = torch.nn.Conv2d(1, 1, kernel, stride=2)(torch.zeros(1, 1, height, width)).shape[-2:]
    assert sizes(page)[1] == tuple(reference)


def test_arrow_keys_move_between_tabs(streamlit_server, browser_page):
    page = browser_page
    page.goto(f"{streamlit_server}/Basic_Layers")
    wait_for_app_idle(page, timeout_ms=180_000)
    tabs = page.get_by_test_id("stMain").get_by_role("tab")
    first, second = tabs.nth(0), tabs.nth(1)
    assert first.get_attribute("aria-selected") == "true"
    tab_to(page, '[data-testid="stMain"] [role="tab"]')
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    page.wait_for_function("el => el.getAttribute('aria-selected') === 'true'", arg=second.element_handle())
    assert first.get_attribute("aria-selected") == "false"
    panel = page.locator(f'[id="{second.get_attribute("aria-controls")}"]')
    assert panel.is_visible()
