"""The web shell in real Chromium: sign-in, the cockpit map, language, phones, HTMX paging."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.conftest import Tab

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
# The README's picture is refreshed only on request (`make docs`), so a test run never
# dirties the working tree; otherwise the picture goes to test-results/.
SCREENSHOT = (
    ROOT / "docs" / "screenshots" / "cockpit.png"
    if os.environ.get("CAREMATCH_UPDATE_SCREENSHOTS") == "1"
    else ROOT / "test-results" / "cockpit.png"
)
CITY_DISTRICTS = ["白云区", "江南区", "临江区", "新港区", "青山区"]

# Samples the map's canvas: how much of it is painted and with how many distinct colours.
CANVAS_PAINT = """() => {
  const canvas = document.querySelector('#district-map canvas');
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const colours = new Set();
  let painted = 0, samples = 0;
  for (let i = 0; i < data.length; i += 4 * 7) {
    samples++;
    if (data[i + 3] > 0) {
      painted++;
      colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    }
  }
  return {painted: painted / samples, colours: colours.size};
}"""


def _wait_for_charts(tab: Tab) -> None:
    tab.page.wait_for_selector("#cockpit[data-ready='true']")


def _table_districts(tab: Tab) -> list[str]:
    return tab.page.locator("#district-table tbody th").all_inner_texts()


def test_official_signs_in_and_sees_the_district_map(tab: Tab):
    tab.goto("/cockpit")
    assert "/login?next=/cockpit" in tab.page.url

    tab.sign_in("official")

    assert tab.page.url.endswith("/cockpit")
    _wait_for_charts(tab)
    assert _table_districts(tab) == CITY_DISTRICTS
    assert tab.page.locator("#district-map canvas").count() >= 1
    paint = tab.page.evaluate(CANVAS_PAINT)
    assert paint["painted"] > 0.2, paint
    assert paint["colours"] >= 5, paint
    # The map's regions are the table's districts, matched by code, coloured by residents.
    codes = tab.page.locator("#district-table tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.code)"
    )
    series = tab.page.evaluate(
        "() => echarts.getInstanceByDom(document.getElementById('district-map'))"
        ".getOption().series[0].data"
    )
    assert sorted(d["name"] for d in series) == sorted(codes)
    assert all(d["value"] > 0 for d in series)
    # Hovering a district shows its name and the three counts.
    tab.page.evaluate(
        "() => echarts.getInstanceByDom(document.getElementById('district-map'))"
        ".dispatchAction({type: 'showTip', seriesIndex: 0, name: '449901'})"
    )
    tip = tab.page.locator("#district-map div", has_text="流动人口").last
    text = tip.inner_text()
    assert "白云区" in text
    assert all(label in text for label in ("居民", "流动人口", "源数据记录"))
    row = tab.page.locator("#district-table tr[data-code='449901'] td").all_inner_texts()
    assert row[0] in text  # the residents count, as the table prints it
    assert tab.errors == []


def test_district_official_sees_only_their_district_in_the_browser(tab: Tab):
    tab.sign_in("baiyun_official")

    _wait_for_charts(tab)

    assert _table_districts(tab) == ["白云区"]
    series = tab.page.evaluate(
        "() => echarts.getInstanceByDom(document.getElementById('district-map'))"
        ".getOption().series[0].data.map(d => d.name)"
    )
    assert series == ["449901"]


def test_switching_to_english_relabels_page_and_charts(tab: Tab):
    tab.sign_in("official")
    _wait_for_charts(tab)

    with tab.page.expect_navigation():
        tab.page.click("#lang-switch")
    _wait_for_charts(tab)

    assert tab.page.get_attribute("html", "lang") == "en"
    assert "Residents by district" in tab.page.inner_text("h1")
    assert _table_districts(tab)[0] == "Baiyun District"
    bar_names = tab.page.evaluate(
        "() => echarts.getInstanceByDom(document.getElementById('district-bar'))"
        ".getOption().yAxis[0].data"
    )
    assert "Baiyun District" in bar_names
    # The choice sticks: the next page, without ?lang=, is still English.
    tab.goto("/workbench")
    assert tab.page.get_attribute("html", "lang") == "en"


def test_wrong_password_shows_an_error_in_the_form(tab: Tab):
    tab.goto("/login")

    tab.sign_in("official", password="wrong-password")

    assert tab.page.locator("#login-error").is_visible()
    assert "用户名或密码错误" in tab.page.inner_text("#login-error")
    assert tab.page.input_value("#username") == "official"


@pytest.mark.parametrize("text", ["normal", "large"])
def test_phone_has_no_horizontal_scroll(phone: Tab, text: str):
    phone.goto(f"/?text={text}")
    assert phone.horizontal_overflow() == 0
    phone.goto("/login")
    assert phone.horizontal_overflow() == 0

    phone.sign_in("official")
    _wait_for_charts(phone)
    assert phone.horizontal_overflow() == 0
    phone.goto("/workbench")
    assert phone.horizontal_overflow() == 0


def test_large_text_mode_enlarges_the_page(tab: Tab):
    tab.goto("/")
    normal = tab.page.evaluate("() => getComputedStyle(document.documentElement).fontSize")

    tab.page.click("#text-toggle")
    tab.page.wait_for_selector("html.text-large")

    large = tab.page.evaluate("() => getComputedStyle(document.documentElement).fontSize")
    assert float(large.removesuffix("px")) > float(normal.removesuffix("px"))


def test_workbench_pages_with_htmx_without_reloading(tab: Tab):
    tab.sign_in("doctor")
    assert tab.page.url.endswith("/workbench")
    first_id = tab.page.get_attribute("#persons tbody tr", "data-person")
    tab.page.evaluate("() => { window.__sameDocument = true; }")

    tab.page.click("#next-page")
    tab.page.wait_for_url("**/workbench?offset=20")

    assert tab.page.get_attribute("#persons tbody tr", "data-person") != first_id
    assert tab.page.evaluate("() => window.__sameDocument === true")
    assert "第 21–40 位" in tab.page.inner_text("#persons .count")
    # Names stay masked after the swap too.
    names = tab.page.locator("#persons tbody tr td:first-child").all_inner_texts()
    assert names and all("*" in n for n in names)


def test_workbench_district_filter_swaps_the_list(tab: Tab):
    tab.sign_in("official")
    tab.goto("/workbench")
    everyone = tab.page.inner_text("#persons .count")

    tab.page.select_option("#region", "449902")
    tab.page.click("form.filter button[type=submit]")
    tab.page.wait_for_url("**/workbench?offset=0&region=449902")

    assert tab.page.inner_text("#persons .count") != everyone
    communities = tab.page.locator("#persons tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.community)"
    )
    assert communities and all(c.startswith("449902") for c in communities)


def test_cockpit_screenshot(tab: Tab):
    """A full-page picture of the cockpit for the README (docs/screenshots/cockpit.png)."""
    tab.sign_in("official")
    _wait_for_charts(tab)

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    tab.page.screenshot(path=str(SCREENSHOT), full_page=True)

    data = SCREENSHOT.read_bytes()
    assert data.startswith(b"\x89PNG")
    assert len(data) > 50_000
