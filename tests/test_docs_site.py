"""The documentation site in a real browser: Debian's headless chromium, driven by Selenium.

The site is `make docs`'s `site/` when it is newer than everything it is made from (`make test`
builds it just before pytest), else it is built here the same way (strict). It is served on
127.0.0.1 and the zoo page is checked as a person uses it: every entry is a row, clicking a
header sorts the table (read back, both directions, missing values last), typing in the filter
keeps exactly the matching rows, and an entry page opened from the table shows its test
protocol, every field with its value and source. Screenshots: `site/screenshots/zoo.png`
(the zoo page) and `site/screenshots/entry.png`.

Skipped, saying why, where chromium, its driver or Selenium is missing (`.ci/run` installs
chromium and chromium-driver with apt, so CI always runs it).
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import zoo
from zoo.transforms import protocol_of

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "site"
SHOTS = SITE / "screenshots"
#: What the site is made from: a change to any of these makes site/ stale.
SOURCES = ("mkdocs.yml", "docs", "zoo", "benchmarks", "results")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
try:
    import selenium  # noqa: F401

    HAVE_SELENIUM = True
except ImportError:  # the docs extra is not installed
    HAVE_SELENIUM = False

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER and HAVE_SELENIUM),
    reason=(
        "the browser test needs Debian's chromium and chromium-driver (apt-get install -y chromium "
        f"chromium-driver) and selenium (the docs extra): chromium {'found' if CHROMIUM else 'missing'}, "
        f"chromedriver {'found' if DRIVER else 'missing'}, selenium {'found' if HAVE_SELENIUM else 'missing'}"
    ),
)


def _newest_source() -> float:
    newest = 0.0
    for name in SOURCES:
        path = ROOT / name
        paths = [path] if path.is_file() else path.rglob("*")
        for p in paths:
            if p.is_file() and "__pycache__" not in p.parts and "runs" not in p.parts and ".cache" not in p.parts:
                newest = max(newest, p.stat().st_mtime)
    return newest


@pytest.fixture(scope="module")
def site() -> Path:
    index = SITE / "index.html"
    if not index.is_file() or index.stat().st_mtime < _newest_source():
        env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
        done = subprocess.run(
            [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(SITE)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )
        assert done.returncode == 0, f"the strict docs build failed:\n{done.stdout}\n{done.stderr}"
    return SITE


@pytest.fixture(scope="module")
def base_url(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1600,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _rows(driver):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, ".zoo-table table tbody tr")


def _header(driver, title: str):
    from selenium.webdriver.common.by import By

    headers = driver.find_elements(By.CSS_SELECTOR, ".zoo-table table thead th")
    matches = [h for h in headers if h.text.strip().rstrip("▲▼ ").strip() == title]
    assert matches, f"no column {title!r} in {[h.text for h in headers]}"
    return matches[0], [h.text.strip().rstrip("▲▼ ").strip() for h in headers].index(title)


def _column(driver, col: int) -> list[str]:
    return [r.find_elements("css selector", "td")[col].text.strip() for r in _rows(driver) if r.is_displayed()]


def _natural(text: str) -> list:
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text) if part]


def _open_zoo(driver, base_url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{base_url}/zoo/")
    WebDriverWait(driver, 30).until(EC.text_to_be_present_in_element((By.ID, "zoo-count"), "entries"))


def test_zoo_table_lists_every_entry(browser, base_url):
    _open_zoo(browser, base_url)
    names = [r.find_element("css selector", "td a").text for r in _rows(browser)]
    assert names == [e.name for e in zoo.all_entries()]  # catalogue order before any sort
    n = len(names)
    assert browser.find_element("id", "zoo-count").text == f"{n} of {n} entries"
    plot = browser.find_element("css selector", "img[src$='kinetics400_flops_vs_top1.png']")
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", plot) > 0


def test_zoo_table_sorts(browser, base_url):
    _open_zoo(browser, base_url)
    header, col = _header(browser, "Params (M)")
    header.click()
    assert header.get_attribute("aria-sort") == "ascending"
    values = _column(browser, col)
    numbers = [float(v) for v in values if v != "-"]
    assert numbers == sorted(numbers) and len(numbers) == len(zoo.all_entries())
    expected = sorted(e.params_m for e in zoo.all_entries())
    assert numbers == pytest.approx(expected, abs=0.006)
    header.click()
    assert header.get_attribute("aria-sort") == "descending"
    assert [float(v) for v in _column(browser, col)] == sorted(numbers, reverse=True)

    # a column with missing values: they stay last in both directions
    header, col = _header(browser, "Top-1")
    header.click()
    values = _column(browser, col)
    present = [float(v) for v in values if v != "-"]
    assert present == sorted(present)
    assert values[len(present):] == ["-"] * (len(values) - len(present))
    assert len(present) == sum(1 for e in zoo.all_entries() if "top1" in e.published)

    # text: by entry name, numbers in names compared as numbers (r50 before r101)
    header, col = _header(browser, "Entry")
    header.click()
    names = _column(browser, col)
    assert names == sorted((e.name for e in zoo.all_entries()), key=_natural)
    assert names.index("slowfast_r50_8x8_kinetics400") < names.index("slowfast_r101_8x8_kinetics400")
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / "zoo_sorted.png"))


def test_zoo_table_filters(browser, base_url):
    from selenium.webdriver.common.keys import Keys

    _open_zoo(browser, base_url)
    box = browser.find_element("id", "zoo-filter")
    entries = zoo.all_entries()

    box.send_keys("x3d")
    expected = [e.name for e in entries if "x3d" in e.name]
    visible = [r.find_element("css selector", "td a").text for r in _rows(browser) if r.is_displayed()]
    assert visible == expected and len(expected) >= 4
    assert browser.find_element("id", "zoo-count").text == f"{len(expected)} of {len(entries)} entries"

    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("slowfast ava")  # every word must match
    visible = [r.find_element("css selector", "td a").text for r in _rows(browser) if r.is_displayed()]
    assert visible == [e.name for e in entries if e.arch == "slowfast" and e.dataset == "ava"] == ["slowfast_r50_8x8_ava"]

    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("torchvision")
    visible = [r.find_element("css selector", "td a").text for r in _rows(browser) if r.is_displayed()]
    assert visible == [e.name for e in entries if e.extra.get("source") == "torchvision"]

    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE)
    assert sum(r.is_displayed() for r in _rows(browser)) == len(entries)

    SHOTS.mkdir(parents=True, exist_ok=True)
    box.send_keys("kinetics400")
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(SHOTS / "zoo.png"))
    assert (SHOTS / "zoo.png").stat().st_size > 10_000


def test_entry_page_shows_its_protocol(browser, base_url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    _open_zoo(browser, base_url)
    name = "x3d_xs_4x12_kinetics400"
    link = next(r.find_element("css selector", "td a") for r in _rows(browser) if r.find_element("css selector", "td a").text == name)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
    link.click()
    WebDriverWait(browser, 30).until(EC.url_contains(f"/zoo/{name}/"))
    headings = [h.text.strip().rstrip("¶").strip() for h in browser.find_elements(By.CSS_SELECTOR, "article h2")]
    assert "Test protocol" in headings and "Load it" in headings and "Checkpoint" in headings

    # the protocol's rules table: every field of protocols.toml with its value and source
    section = browser.find_element(By.ID, "test-protocol")
    tables = section.find_elements(By.XPATH, "following::table")
    rows = {}
    for table in tables[:2]:
        for tr in table.find_elements(By.CSS_SELECTOR, "tbody tr"):
            cells = [td.text.strip() for td in tr.find_elements(By.TAG_NAME, "td")]
            rows[cells[0]] = cells[1:]
    protocol = protocol_of(zoo.get_entry(name))
    fields = [k for k, v in protocol.items() if isinstance(v, dict)]
    assert fields
    for key in fields:
        value, source = rows[key.replace("_", " ")]
        assert value == str(protocol[key]["value"])
        assert source == protocol[key]["source"]
    entry = zoo.get_entry(name)
    assert rows["frames (NUM_FRAMES)"][0] == str(entry.num_frames)
    assert rows["crop size"][0] == str(entry.crop_size)
    page = browser.find_element(By.TAG_NAME, "article").text
    assert entry.url in page
    assert f'zoo.create_model("{name}", pretrained=True)' in page
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / "entry.png"))
