"""Chinese first, English on request; every interface string has a Chinese translation."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient

from carematch.web.i18n import LOCALE_DIR

ROOT = Path(__file__).resolve().parents[2]


def _catalogue(locale: str):
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=locale)


def _extracted_msgids() -> set[str]:
    """Every msgid the templates and web modules use, extracted as babel.cfg says."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_extraction_finds_the_templates_strings():
    msgids = _extracted_msgids()

    # A broken babel.cfg would extract nothing and make the next test pass vacuously.
    assert len(msgids) > 50
    assert "Sign in" in msgids
    assert "Residents by district" in msgids


def test_every_interface_string_has_a_chinese_translation():
    zh = _catalogue("zh_Hans_CN")

    untranslated = sorted(
        msgid
        for msgid in _extracted_msgids()
        if msgid not in zh or not zh[msgid].string or zh[msgid].fuzzy
    )

    assert untranslated == []


@pytest.mark.parametrize("locale", ["zh_Hans_CN", "en"])
def test_compiled_catalogue_matches_its_source(locale):
    po = _catalogue(locale)
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.mo").open("rb") as handle:
        mo = read_mo(handle)

    expected = {m.id: m.string for m in po if m.id and m.string and not m.fuzzy}
    compiled = {m.id: m.string for m in mo if m.id}
    assert compiled == expected, "run: pybabel compile -d carematch/web/locale"


def test_chinese_is_the_default(client: TestClient):
    response = client.get("/")

    assert '<html lang="zh-Hans-CN"' in response.text
    assert "健康服务精准对接平台" in response.text
    assert "登录" in response.text


def test_lang_parameter_switches_to_english_and_is_remembered(client: TestClient):
    switched = client.get("/?lang=en")

    assert '<html lang="en"' in switched.text
    assert "Health Service Matching Platform" in switched.text
    assert "健康服务精准对接平台" not in switched.text
    assert "cm_lang=en" in switched.headers["set-cookie"]
    # The cookie keeps English on the next page, which carries no parameter.
    later = client.get("/login")
    assert '<html lang="en"' in later.text
    assert "Username" in later.text


def test_switching_back_to_chinese(client: TestClient):
    client.get("/?lang=en")

    response = client.get("/login?lang=zh")

    assert '<html lang="zh-Hans-CN"' in response.text
    assert "用户名" in response.text
    assert "cm_lang=zh" in response.headers["set-cookie"]


def test_unknown_language_falls_back_without_setting_a_cookie(client: TestClient):
    response = client.get("/?lang=xx")

    assert '<html lang="zh-Hans-CN"' in response.text
    assert "cm_lang" not in response.headers.get("set-cookie", "")


@pytest.mark.parametrize(("current", "link"), [("", "?lang=en"), ("?lang=en", "?lang=zh")])
def test_every_page_links_to_the_other_language(client: TestClient, current, link):
    for path in ["/", "/login"]:
        response = client.get(path + current)
        assert f'href="{path}{link}"' in response.text


def test_language_link_keeps_the_other_query_parameters(client: TestClient):
    response = client.get("/login?next=/cockpit")

    assert 'href="/login?next=%2Fcockpit&amp;lang=en"' in response.text


def test_large_text_mode_is_remembered(client: TestClient):
    response = client.get("/?text=large")

    assert 'class="text-large"' in response.text
    assert "cm_text=large" in response.headers["set-cookie"]
    assert 'class="text-large"' in client.get("/login").text
    assert 'class="text-large"' not in client.get("/?text=normal").text
