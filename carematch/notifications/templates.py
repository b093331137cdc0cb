"""Message templates (通知模板): zh/en text with named parameters, read from templates.yaml.

Pure: no database, no web. The enqueuing domain names a template key and supplies its
parameters; the worker renders them in the message's language just before sending, and the
inbox renders them again in the reader's language.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from carematch.notifications.errors import InvalidParams, TemplateFileError, UnknownTemplate

LOCALES = ("zh", "en")
DEFAULT_LOCALE = "zh"
# Parameter values are plain scalars: they are stored as JSON and pasted into text.
ParamValue = str | int | float | bool
_FORMATTER = string.Formatter()


@dataclass(frozen=True)
class Rendered:
    """A message's text in one language."""

    title: str
    body: str


@dataclass(frozen=True)
class Template:
    """One template: title and body per language, and the placeholders they use."""

    key: str
    text: Mapping[str, Rendered]
    fields: frozenset[str]

    def render(self, params: Mapping[str, Any], locale: str = DEFAULT_LOCALE) -> Rendered:
        """The text in ``locale`` (Chinese when the locale is unknown) with params filled in."""
        missing = self.fields - set(params)
        if missing:
            raise InvalidParams(
                f"template {self.key!r} needs {', '.join(sorted(missing))}",
                missing=sorted(missing),
            )
        text = self.text.get(locale) or self.text[DEFAULT_LOCALE]
        values = {k: str(params[k]) for k in self.fields}
        return Rendered(text.title.format_map(values), text.body.format_map(values))


def _fields(key: str, text: str) -> set[str]:
    names: set[str] = set()
    try:
        parsed = list(_FORMATTER.parse(text))
    except ValueError as exc:
        raise TemplateFileError(f"template {key!r}: {exc}") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        # Attribute access and indexing would let a template reach into a parameter's object.
        if not name.isidentifier() or spec or conversion:
            raise TemplateFileError(f"template {key!r}: placeholder {{{name}}} is not a plain name")
        names.add(name)
    return names


def parse_templates(data: Any) -> dict[str, Template]:
    """Check a loaded templates document and build its templates.

    Raises:
        TemplateFileError: a template without zh and en title and body, or whose languages
            name different placeholders.
    """
    if not isinstance(data, dict) or not data:
        raise TemplateFileError("the templates file must map template keys to texts")
    out: dict[str, Template] = {}
    for key, entry in data.items():
        if not isinstance(entry, dict) or set(entry) != set(LOCALES):
            raise TemplateFileError(f"template {key!r} needs exactly these languages: zh, en")
        texts: dict[str, Rendered] = {}
        fields: dict[str, set[str]] = {}
        for locale in LOCALES:
            part = entry[locale]
            if not isinstance(part, dict) or not all(
                isinstance(part.get(f), str) and part[f].strip() for f in ("title", "body")
            ):
                raise TemplateFileError(f"template {key!r} ({locale}) needs a title and a body")
            texts[locale] = Rendered(part["title"], part["body"])
            fields[locale] = _fields(key, part["title"]) | _fields(key, part["body"])
        if fields["zh"] != fields["en"]:
            raise TemplateFileError(
                f"template {key!r}: zh and en name different placeholders "
                f"({sorted(fields['zh'])} vs {sorted(fields['en'])})"
            )
        out[str(key)] = Template(str(key), texts, frozenset(fields["zh"]))
    return out


@cache
def templates() -> dict[str, Template]:
    """The shipped templates (carematch/notifications/templates.yaml), checked once."""
    text = resources.files("carematch.notifications").joinpath("templates.yaml").read_text("utf-8")
    return parse_templates(yaml.safe_load(text))


def get_template(key: str) -> Template:
    """The template named ``key``.

    Raises:
        UnknownTemplate: no such template.
    """
    found = templates().get(key)
    if found is None:
        raise UnknownTemplate(
            f"unknown template {key!r}; templates: {', '.join(sorted(templates()))}"
        )
    return found


def check_params(key: str, params: Mapping[str, Any]) -> dict[str, ParamValue]:
    """The params as stored: plain scalars, exactly the template's placeholders.

    Raises:
        UnknownTemplate: no such template.
        InvalidParams: a missing or unexpected parameter, or one that is not a scalar.
    """
    template = get_template(key)
    extra = set(params) - template.fields
    if extra:
        raise InvalidParams(
            f"template {key!r} does not use {', '.join(sorted(extra))}", unexpected=sorted(extra)
        )
    for name, value in params.items():
        if value is None or not isinstance(value, str | int | float | bool):
            raise InvalidParams(f"parameter {name!r} must be a string or a number")
    template.render(params)  # raises on a missing parameter
    return dict(params)
