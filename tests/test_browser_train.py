"""In a real browser: train, download the checkpoint, upload it again, continue training."""
from __future__ import annotations

import pytest

from cnn_core import load_checkpoint
from tests.helpers import act_and_wait_for_rerun, assert_no_exception, save_screenshot, wait_for_app_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]


def wait_for_metric(page, label: str, value: str, timeout_ms: int = 180_000) -> None:
    metric = page.get_by_test_id("stMetric").filter(has_text=label)
    metric.get_by_test_id("stMetricValue").filter(has_text=value).wait_for(timeout=timeout_ms)
    wait_for_app_idle(page, timeout_ms)


def test_train_download_upload_and_continue(streamlit_server, browser_page, screenshot_dir, tmp_path):
    page = browser_page
    page.goto(f"{streamlit_server}/Train")
    wait_for_app_idle(page, timeout_ms=120_000)
    assert_no_exception(page, "Train page")
    per_class = page.locator(".st-key-tr_per_class input")
    act_and_wait_for_rerun(page, lambda: (per_class.fill("30"), per_class.press("Enter")))

    page.locator(".st-key-tr_train button").first.click()
    wait_for_metric(page, "Epochs trained", "3")
    assert_no_exception(page, "after training")
    assert page.get_by_text("Misclassified test images").count() == 1
    assert page.get_by_test_id("stImage").count() >= 1  # the gallery of mistakes
    save_screenshot(page, "train_browser_01_trained", screenshot_dir)

    page.get_by_role("tab", name="Save / restore").click()
    with page.expect_download(timeout=60_000) as info:
        page.locator(".st-key-tr_download button").first.click()
    download = info.value
    assert download.suggested_filename == "lenet5-modern-mnist-5k-epoch3.pt"
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    checkpoint = load_checkpoint(path.read_bytes(), expected_model="lenet5-modern")
    assert checkpoint.metrics["epochs"] == 3 and checkpoint.config["per_class"] == 30

    act_and_wait_for_rerun(page, lambda: page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(path))
    page.get_by_text("Checkpoint of").first.wait_for()
    act_and_wait_for_rerun(page, lambda: page.locator(".st-key-tr_restore button").first.click())
    page.get_by_text("Restored at epoch 3").wait_for()
    save_screenshot(page, "train_browser_02_restored", screenshot_dir)

    page.get_by_role("tab", name="Train").first.click()
    page.locator(".st-key-tr_continue button").first.click()
    wait_for_metric(page, "Epochs trained", "4")
    assert_no_exception(page, "after continuing")
    save_screenshot(page, "train_browser_03_continued", screenshot_dir)
