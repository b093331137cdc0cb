"""The indicator cockpit in Chromium: map, a red light, drill-down to a community, exports.

The live server's city is loaded with `carematch load`, whose after-load hook computes the
indicators for the last six months, so the page has real values from the generated city.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.e2e.conftest import Tab

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
# The README's picture is refreshed only on request, so a test run never dirties the tree.
SCREENSHOT = ROOT / "docs" / "screenshots" / "cockpit-indicators.png"
UPDATE_SCREENSHOTS = os.environ.get("CAREMATCH_UPDATE_SCREENSHOTS") == "1"
# A point (CSS pixels, from the canvas's corner) inside the drawn district: the median of the
# pixels painted in one of the lights' fill colours (labels and borders are other colours).
PAINTED_POINT = """() => {
  const canvas = document.querySelector('#ind-map canvas');
  const ctx = canvas.getContext('2d');
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  const fills = [[46, 125, 50], [249, 168, 37], [198, 40, 40], [144, 164, 174], [207, 216, 220]];
  const xs = [], ys = [];
  for (let y = 0; y < canvas.height; y += 3) {
    for (let x = 0; x < canvas.width; x += 3) {
      const i = (y * canvas.width + x) * 4;
      if (fills.some(f => Math.abs(data[i] - f[0]) + Math.abs(data[i + 1] - f[1]) +
          Math.abs(data[i + 2] - f[2]) < 6)) { xs.push(x); ys.push(y); }
    }
  }
  const k = Math.floor(xs.length / 2);
  const ratio = canvas.width / canvas.getBoundingClientRect().width;
  return [xs[k] / ratio, ys[k] / ratio];
}"""


def _shown_rows(tab: Tab) -> list[tuple[str, str]]:
    return tab.page.locator("tr.ind-row").evaluate_all(
        "rows => rows.map(r => [r.dataset.indicator, r.dataset.status])"
    )


def test_cockpit_map_red_light_drill_down_export_and_screenshot(tab: Tab):
    """The acceptance path; with CAREMATCH_UPDATE_SCREENSHOTS=1 (`make docs`) it also refreshes
    docs/screenshots/cockpit-indicators.png at 1280×800."""
    tab.sign_in("official")
    tab.goto("/cockpit")
    with tab.page.expect_navigation():
        tab.page.click("#to-indicators")
    assert tab.page.locator("#ind-title").get_attribute("data-level") == "city"

    # The district map is drawn (on canvas) from the district shapes.
    tab.page.wait_for_selector("#ind-map[data-drawn='true'] canvas")
    tab.page.wait_for_selector("#ind-trend[data-drawn='true'] canvas")
    # At least one indicator is off target, shown with its word and symbol, not colour alone.
    red = tab.page.locator("tr.ind-row[data-status='red']")
    assert red.count() >= 1
    assert red.first.is_visible()
    light = red.first.locator(".light-red").inner_text()
    assert "✖" in light and len(light.strip()) > 2
    assert int(tab.page.locator("#count-red").get_attribute("data-count") or 0) == red.count()
    if UPDATE_SCREENSHOTS:
        tab.page.set_viewport_size({"width": 1280, "height": 800})
        tab.page.wait_for_timeout(300)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        tab.page.screenshot(path=str(SCREENSHOT))
        assert SCREENSHOT.read_bytes().startswith(b"\x89PNG")

    # Drill down by the table's links: city → district → street → community.
    for level in ("district", "street", "community"):
        with tab.page.expect_navigation():
            tab.page.locator("#children-table a.drill-link").first.click()
        assert tab.page.locator("#ind-title").get_attribute("data-level") == level
    community = tab.page.locator("#ind-title").get_attribute("data-region") or ""
    assert len(community) == 12
    assert f"region={community}" in tab.page.url
    crumbs = tab.page.locator("#crumbs li").count()
    assert crumbs == 5  # cockpit › city › district › street › community
    shown = _shown_rows(tab)
    assert shown, "a community shows its own indicators"

    # The table shown, exported: the CSV holds exactly the rows on the page.
    with tab.page.expect_download() as download:
        tab.page.click("#export-csv")
    raw = Path(download.value.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0][0] == "地区代码 region_code"
    assert {r[0] for r in table[1:]} == {community}
    assert sorted((r[4], r[13]) for r in table[1:]) == sorted(tuple(s) for s in shown)

    with tab.page.expect_download() as download:
        tab.page.click("#export-xlsx")
    book = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()), read_only=True)
    cells = list(book.active.iter_rows(values_only=True))
    assert [c[4] for c in cells[1:]] == [r[4] for r in table[1:]]
    assert tab.errors == []


def test_district_official_clicks_the_map_and_stays_in_their_district(tab: Tab):
    tab.sign_in("baiyun_official")
    tab.goto("/cockpit/indicators")
    assert tab.page.locator("#ind-title").get_attribute("data-region") == "449901"
    tab.page.wait_for_selector("#ind-map[data-drawn='true'] canvas")
    # Clicking the (only) district on the map opens its page.
    tab.page.locator("#ind-map").scroll_into_view_if_needed()
    box = tab.page.locator("#ind-map canvas").first.bounding_box()
    assert box is not None
    x, y = tab.page.evaluate(PAINTED_POINT)
    with tab.page.expect_navigation():
        tab.page.mouse.click(box["x"] + x, box["y"] + y)
    assert "region=449901" in tab.page.url
    response = tab.goto("/cockpit/indicators?region=449902")
    assert response.status == 403
    assert tab.errors == [] or all("403" in e for e in tab.errors)


def test_phone_has_no_sideways_scroll(phone: Tab):
    phone.sign_in("official")
    phone.goto("/cockpit/indicators")
    phone.page.wait_for_selector("#ind-trend[data-drawn='true'] canvas")
    assert phone.horizontal_overflow() == 0
    assert phone.page.locator("tr.ind-row").count() > 0
