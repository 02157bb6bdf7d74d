"""In a real browser: train on the Train page, download the run as a .py script, run it: the same accuracy."""
from __future__ import annotations

import subprocess
import sys

import pytest

from cnn_core.export.records import parse_records
from tests.helpers import act_and_wait_for_rerun, assert_no_exception, save_screenshot, wait_for_app_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]


def test_train_then_download_the_script(streamlit_server, browser_page, screenshot_dir, tmp_path):
    page = browser_page
    page.goto(f"{streamlit_server}/Train")
    wait_for_app_idle(page, timeout_ms=120_000)
    per_class = page.locator(".st-key-tr_per_class input")
    act_and_wait_for_rerun(page, lambda: (per_class.fill("10"), per_class.press("Enter")))  # 100 images
    page.locator(".st-key-tr_train button").first.click()
    metric = page.get_by_test_id("stMetric").filter(has_text="Epochs trained")
    metric.get_by_test_id("stMetricValue").filter(has_text="3").wait_for(timeout=180_000)
    wait_for_app_idle(page, 180_000)
    assert_no_exception(page, "after training")
    shown = page.get_by_test_id("stMetric").filter(has_text="Validation accuracy").first \
        .get_by_test_id("stMetricValue").inner_text().strip()

    button = page.locator(".st-key-tr_export_py button").first
    button.scroll_into_view_if_needed()
    save_screenshot(page, "export_browser_01_buttons", screenshot_dir)
    with page.expect_download(timeout=60_000) as info:
        button.click()
    download = info.value
    assert download.suggested_filename == "train_run.py"
    path = tmp_path / "train_run.py"
    download.save_as(path)
    source = path.read_text()
    assert "cnn_core" not in source and "per_class=10," in source and "epochs=3," in source
    assert page.locator(".st-key-tr_export_ipynb button").count() == 1

    done = subprocess.run([sys.executable, path.name], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (printed,) = parse_records(done.stdout)
    assert len(printed.epochs) == 3
    assert f"{printed.val_accuracy:.1%}" == shown  # the page's validation accuracy, as the page rounds it


# (page with a lesson link for its smallest run, its main button, its export key, the file it downloads, a tab)
PAGES = [
    ("Optimizers?cnn_epochs=1&cnn_per_class=20", "cnn_run", "cnn_export", "optimizer_comparison.py", None),
    ("Weight_Initialization?init_epochs=1&init_per_class=50", "init_train_start", "init_export",
     "weight_init_comparison.py", "During training"),
    ("Regularization?reg_epochs=5&reg_per_class=20", "reg_start", "reg_export", "regularization_comparison.py", None),
    ("Hyperparameter_Tuning?hp_epochs=1&hp_per_class=10", "hp_search_run", "hp_export", "tuning_search.py",
     "Grid / random"),
    ("Architecture", None, "arch_export", "network.py", None),
]


@pytest.mark.parametrize("path, start, key, filename, tab", PAGES, ids=[p[0].split("?")[0] for p in PAGES])
def test_each_experiment_page_downloads_its_script(streamlit_server, browser_page, tmp_path, path, start, key,
                                                    filename, tab):
    page = browser_page
    page.goto(f"{streamlit_server}/{path}")
    wait_for_app_idle(page, timeout_ms=120_000)
    if tab is not None:  # the page's main action sits in a tab
        act_and_wait_for_rerun(page, lambda: page.get_by_role("tab").filter(has_text=tab).first.click())
    if start is not None:
        page.locator(f".st-key-{start} button").first.click()
    button = page.locator(f".st-key-{key}_py button").first
    button.wait_for(timeout=300_000)
    wait_for_app_idle(page, 180_000)
    assert_no_exception(page, path)
    button.scroll_into_view_if_needed()
    with page.expect_download(timeout=60_000) as info:
        button.click()
    assert info.value.suggested_filename == filename
    source = (tmp_path / filename)
    info.value.save_as(source)
    text = source.read_text()
    assert "cnn_core" not in text and "import torch" in text
    compile(text, filename, "exec")  # a whole, valid Python file
    assert page.locator(f".st-key-{key}_ipynb button").count() == 1
