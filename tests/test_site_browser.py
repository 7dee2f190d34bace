"""The built site in a real browser: Debian's headless Chromium driven by Selenium over
file://. Links are followed, the search box is typed into, every request is checked to stay
inside the site, and screenshots at 1400, 800 and 375 px are taken (under the test's tmp
folder) with what can be asserted of them: no sideways scroll, both banners in FIRST's
colours. Skips only where chromium or chromedriver is missing (.ci/run installs both)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cacop_cli.models import TLP_COLOURS

pytest.importorskip("selenium", reason="selenium is in the dev extras: pip install -e '.[dev]'")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

REPO = Path(__file__).parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver") or (
    "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").is_file() else None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="chromium and chromium-driver are not installed (.ci/run installs them)",
)
SPELLED_OUT = "milwaukee-2026-trace-requests-with-federal-partners"
TRACE_ENTRY = f"""---
id: {SPELLED_OUT}
type: strategy
title: Trace requests with federal partners
site: milwaukee
authors: [T. Tester]
created: 2026-11-20
topics: [federal-partnerships]
tlp: green
status: active
evidence: untested
---
We send every recovered gun to the Bureau of Alcohol, Tobacco, Firearms and Explosives
within a week, and track the answers.
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The bundled KB's site, plus an entry that spells out an acronym it never uses."""
    from cacop_cli.config import load_kb
    from cacop_cli.site import build

    base = tmp_path_factory.mktemp("browser")
    kb = base / "kb-repo"
    shutil.copytree(REPO / "kb", kb / "kb")
    shutil.copytree(REPO / "schemas", kb / "schemas")
    shutil.copyfile(REPO / "cacop.yaml", kb / "cacop.yaml")
    (kb / "kb" / "strategies" / f"{SPELLED_OUT}.md").write_text(TRACE_ENTRY, encoding="utf-8")
    import datetime as dt

    result = build(load_kb(kb), base / "out", today=dt.date(2026, 12, 1))
    assert result.ok and result.entries > 30
    return base / "out"


@pytest.fixture(scope="module")
def browser():
    options = Options()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update",
                     "--no-first-run", "--window-size=1400,1000"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def open_page(browser, site: Path, rel: str = "index.html") -> None:
    browser.get((site / rel).as_uri())
    WebDriverWait(browser, 20).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def search(browser, query: str) -> list[tuple[str, str]]:
    """Type a query into the page's search box; the (href, text) of the results shown."""
    box = browser.find_element(By.ID, "q")
    box.clear()
    box.send_keys(query)
    WebDriverWait(browser, 10).until(
        lambda d: (
            d.find_element(By.ID, "results").is_displayed()
            and d.find_elements(By.CSS_SELECTOR, "#results h2")
        )
    )
    links = browser.find_elements(By.CSS_SELECTOR, "#results ol.hits a")
    return [(link.get_attribute("href"), link.text) for link in links]


def test_from_the_home_page_to_an_rfi_its_thread_and_back(browser, site):
    open_page(browser, site)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Crime analysis knowledge base"
    browser.find_element(By.CSS_SELECTOR, "nav a[href='rfis/index.html']").click()
    answered = browser.find_elements(By.CSS_SELECTOR, "section[aria-labelledby='answered'] li a")
    assert answered, "the board lists answered requests"
    title = answered[0].text
    answered[0].click()
    assert browser.find_element(By.TAG_NAME, "h1").text == title
    thread = browser.find_elements(By.CSS_SELECTOR, "ol.thread a")
    assert thread, "an answered request links its responses"
    thread[0].click()
    back = browser.find_element(By.CSS_SELECTOR, "section[aria-labelledby='thread'] a")
    assert back.text == title
    back.click()
    assert browser.find_element(By.TAG_NAME, "h1").text == title
    assert browser.current_url.startswith("file://") and browser.current_url.endswith("/index.html")


def test_newest_entries_link_to_their_permalinks(browser, site):
    open_page(browser, site)
    first = browser.find_element(By.CSS_SELECTOR, "section[aria-labelledby='newest'] li a")
    href, title = first.get_attribute("href"), first.text
    first.click()
    assert browser.find_element(By.TAG_NAME, "h1").text == title
    entry_id = href.rstrip("/").split("/")[-2]
    assert (site / entry_id / "index.html").is_file()


def test_the_search_box_ranks_entries_and_links_to_them(browser, site):
    open_page(browser, site, "map/index.html")  # from a page one folder down
    hits = search(browser, "carjacking diversion")
    assert len(hits) >= 2
    href, title = hits[0]
    assert "carjacking" in title.lower()
    browser.find_element(By.CSS_SELECTOR, "#results ol.hits a").click()
    assert browser.find_element(By.TAG_NAME, "h1").text == title
    assert browser.current_url == href


def test_an_acronym_finds_the_entry_that_only_spells_it_out(browser, site):
    open_page(browser, site)
    hits = search(browser, "ATF")
    assert any(href.endswith(f"/{SPELLED_OUT}/index.html") for href, _ in hits), hits
    spelled = search(browser, "bureau of alcohol tobacco firearms and explosives")
    assert any("atf" in href for href, _ in spelled)  # and the other way round
    nothing = search(browser, "zzqqxxnothing")
    assert nothing == []
    assert browser.find_element(By.CSS_SELECTOR, "#results h2").text == "No results"


def test_no_request_leaves_the_site_and_the_policy_blocks_nothing_of_its_own(browser, site):
    browser.get_log("performance")  # drop what came before
    browser.get_log("browser")
    for rel in ("index.html", "map/index.html", "rfis/index.html", "experts/index.html",
                "milwaukee-2025-nibin-leads-tracking-csv-layout/index.html"):  # fmt: skip
        open_page(browser, site, rel)
        search(browser, "nibin")
    requested = []
    for record in browser.get_log("performance"):
        message = json.loads(record["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requested.append(message["params"]["request"]["url"])
    assert requested, "the performance log saw the pages load"
    outside = [url for url in requested if not url.startswith(site.as_uri())]
    assert outside == []
    console = [entry["message"] for entry in browser.get_log("browser")]
    assert [line for line in console if "Content Security Policy" in line] == []
    assert [line for line in console if entry_is_error(line)] == []


def entry_is_error(line: str) -> bool:
    return "Uncaught" in line or "ERR_" in line


def banners_of(browser) -> list[dict]:
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('p.tlp')).map(function (p) {"
        " var s = getComputedStyle(p); var r = p.getBoundingClientRect();"
        " return {text: p.textContent, color: s.color, background: s.backgroundColor,"
        " display: s.display, height: r.height}; });"
    )


def rgb(colour: str) -> str:
    value = colour.lstrip("#")
    return f"rgb({int(value[0:2], 16)}, {int(value[2:4], 16)}, {int(value[4:6], 16)})"


@pytest.mark.parametrize("width", [1400, 800, 375])
def test_readable_at_each_width_with_both_banners_and_no_sideways_scroll(
    browser, site, width, tmp_path
):
    browser.set_window_size(width, 1000)
    pages = ("index.html", "map/index.html", "rfis/index.html",
             "milwaukee-2025-nibin-leads-tracking-csv-layout/index.html")  # fmt: skip
    for rel in pages:
        open_page(browser, site, rel)
        inner = browser.execute_script("return window.innerWidth")
        scroll = browser.execute_script("return document.documentElement.scrollWidth")
        assert scroll <= inner, f"{rel} scrolls sideways at {width} px ({scroll} > {inner})"
        banners = banners_of(browser)
        assert len(banners) == 2, rel
        for banner in banners:
            marking = banner["text"].split()[0].removeprefix("TLP:").lower()
            assert banner["background"] == "rgb(0, 0, 0)"
            assert banner["color"] == rgb(TLP_COLOURS[marking])
            assert banner["height"] > 10
        shot = tmp_path / f"{rel.replace('/', '_')}-{width}.png"
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 5_000
    browser.set_window_size(1400, 1000)


def test_printing_drops_navigation_and_keeps_the_banner(browser, site):
    open_page(browser, site, "milwaukee-2025-nibin-leads-tracking-csv-layout/index.html")
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        shown = browser.execute_script(
            "return ['nav', 'form.search', 'p.tlp', 'main'].map(function (s) {"
            " return getComputedStyle(document.querySelector(s)).display; });"
        )
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    nav, form, banner, main = shown
    assert nav == "none" and form == "none"
    assert banner != "none" and main != "none"


def test_the_keyboard_reaches_skip_link_navigation_and_search(browser, site):
    open_page(browser, site)
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    assert browser.switch_to.active_element.text == "Skip to content"
    landmarks = browser.execute_script(
        "return ['header', 'nav', 'main', 'footer', 'form[role=search]', 'h1'].map("
        "function (s) { return document.querySelectorAll(s).length; });"
    )
    assert all(count >= 1 for count in landmarks)
    box = browser.find_element(By.ID, "q")
    box.send_keys("nibin", Keys.ENTER)
    active = browser.switch_to.active_element
    assert active.tag_name == "a" and "/index.html" in active.get_attribute("href")
