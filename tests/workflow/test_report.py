"""The Snakemake report of a tiny demo run, rendered in a real headless Chromium."""

import base64
import shutil

import numpy as np
import pytest

from tests.conftest import run_snakemake

pytestmark = pytest.mark.workflow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

# In the browser: decode every registered image and report its size (0 = broken image).
LOAD_IMAGES = """
const done = arguments[arguments.length - 1];
const entries = Object.entries(results).filter(([k, v]) => v.mime_type.startsWith("image/"));
Promise.all(entries.map(([k, v]) => new Promise(resolve => {
  const img = new Image();
  img.onload = () => resolve([k, img.naturalWidth, img.naturalHeight]);
  img.onerror = () => resolve([k, 0, 0]);
  img.src = v.data_uri;
}))).then(done);
"""


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    # Flags for a closed network, as root, without a display.
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1000",
    ):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


def test_report_shows_every_figure(full_demo, browser):
    report = full_demo / "report.html"
    run_snakemake(["--directory", full_demo, "--report", report])
    browser.get(report.as_uri())
    registered = browser.execute_script("return Object.keys(results)")
    # Every figure the run wrote must be in the report (nothing produced and left out).
    figures = sorted(
        str(p.relative_to(full_demo))
        for ext in ("png", "svg")
        for p in (full_demo / "results").rglob(f"*.{ext}")
    )
    assert figures, "the demo run produced no figure"
    missing = sorted(set(figures) - set(registered))
    assert not missing, f"figures not registered in the report: {missing}"
    sizes = browser.execute_async_script(LOAD_IMAGES)
    broken = [k for k, w, h in sizes if w == 0 or h == 0]
    assert not broken, f"figures that do not load in the browser: {broken}"
    assert {k for k, _, _ in sizes} >= set(figures)
    # Every figure has a caption that the report rendered.
    captions = browser.execute_script("return Object.entries(results).map(([k, v]) => [k, v.caption])")
    assert all(c and len(c) > 40 for k, c in captions if k in figures)
    # One summary page per cohort, with the numbers of the stage tables.
    for cohort in ("demo", "demo_new"):
        assert f"results/{cohort}/summary.html" in registered
    qc = (full_demo / "results/demo/qc/summary.tsv").read_text().splitlines()
    n_features = qc[-1].split("\t")[qc[0].split("\t").index("ld_pruned_kept")]
    assert (
        f"<b>{n_features}</b> variants after LD pruning"
        in (full_demo / "results/demo/summary.html").read_text()
    )
    # A screenshot a person can look at; not a blank page.
    png = base64.b64decode(browser.get_screenshot_as_base64())
    (full_demo / "report_screenshot.png").write_bytes(png)
    import io

    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)
    assert pixels.std() > 5
