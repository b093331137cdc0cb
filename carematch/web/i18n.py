"""Interface languages: Chinese first (zh_Hans_CN), English on request.

Source strings are English; catalogues live in ``locale/<locale>/LC_MESSAGES/messages.po`` and
the compiled ``.mo`` files are committed, so a clean clone needs no build step. After changing
a user-facing string, refresh the catalogues from the repository root::

    pybabel extract -F babel.cfg -o carematch/web/locale/messages.pot .
    pybabel update -i carematch/web/locale/messages.pot -d carematch/web/locale
    # translate the new entries in zh_Hans_CN/LC_MESSAGES/messages.po, then
    pybabel compile -d carematch/web/locale

``tests/web/test_i18n.py`` fails while a string lacks a Chinese translation or a ``.mo`` is stale.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.support import NullTranslations, Translations
from fastapi import Request

LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT_LOCALE = "zh_Hans_CN"
LOCALES = ("zh_Hans_CN", "en")
LANG_COOKIE = "cm_lang"
LANG_PARAM = "lang"

# What a ``?lang=`` link or cookie may say, mapped to a catalogue. Short codes keep URLs readable.
_ALIASES = {
    "zh": "zh_Hans_CN",
    "zh-cn": "zh_Hans_CN",
    "zh_cn": "zh_Hans_CN",
    "zh-hans": "zh_Hans_CN",
    "zh_hans_cn": "zh_Hans_CN",
    "zh-hans-cn": "zh_Hans_CN",
    "en": "en",
    "en-us": "en",
    "en_us": "en",
    "en-gb": "en",
}

# The short code each locale is switched to by ``?lang=`` and remembered as in the cookie.
SHORT_CODE = {"zh_Hans_CN": "zh", "en": "en"}
# BCP 47 tag for ``<html lang>``, so browsers pick CJK fonts and screen readers the right voice.
HTML_LANG = {"zh_Hans_CN": "zh-Hans-CN", "en": "en"}


def N_(message: str) -> str:
    """Mark a Python string for extraction; it is translated later, where it is rendered."""
    return message


def parse_locale(value: str | None) -> str | None:
    """The catalogue a ``lang`` value names, or None for anything unknown."""
    if not value:
        return None
    return _ALIASES.get(value.strip().lower())


def requested_locale(request: Request) -> str | None:
    """The locale asked for by this request's ``?lang=``, if it is a known one."""
    return parse_locale(request.query_params.get(LANG_PARAM))


def negotiate(request: Request) -> str:
    """The locale of a request: ``?lang=`` first, then the cookie, then Chinese.

    The browser's Accept-Language is deliberately ignored: the service is Chinese-first and a
    clerk's English-language browser must not switch the interface by surprise.
    """
    return (
        requested_locale(request)
        or parse_locale(request.cookies.get(LANG_COOKIE))
        or DEFAULT_LOCALE
    )


@cache
def translations(locale: str) -> NullTranslations:
    """The compiled catalogue of a locale (English falls back to the English source strings)."""
    return Translations.load(str(LOCALE_DIR), [locale], domain="messages")


def gettext(locale: str, message: str) -> str:
    """Translate one message outside a template (e.g. a JSON label for a chart)."""
    return translations(locale).gettext(message)


def localized_name(name: str, name_en: str | None, locale: str) -> str:
    """A place name in the page's language; the Chinese name when no English one is known."""
    return name_en if locale == "en" and name_en else name
