"""Templates: the shipped file is complete (zh first), rendering fills every placeholder."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from carematch.notifications.errors import InvalidParams, TemplateFileError, UnknownTemplate
from carematch.notifications.templates import (
    check_params,
    get_template,
    parse_templates,
    templates,
)

REQUIRED = {"booking_reminder", "followup_due", "sla_alert"}


def test_the_shipped_file_has_the_three_reminders_in_chinese_first():
    raw = yaml.safe_load(
        resources.files("carematch.notifications").joinpath("templates.yaml").read_text("utf-8")
    )
    assert set(templates()) >= REQUIRED
    for key in REQUIRED:
        assert list(raw[key]) == ["zh", "en"], key
        zh = get_template(key).render({f: "X" for f in get_template(key).fields}, "zh")
        # Chinese text, not English copied under the zh key.
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh.title + zh.body), key


def test_a_booking_reminder_renders_in_both_languages():
    params = {"service": "高血压随访", "start": "5月21日 09:00", "provider": "白云社区卫生服务中心"}
    zh = get_template("booking_reminder").render(params, "zh")
    en = get_template("booking_reminder").render(params, "en")
    for text in (zh, en):
        assert "高血压随访" in text.body and "5月21日 09:00" in text.body
        assert "{" not in text.body
    assert zh.title == "预约提醒"
    assert en.title == "Appointment reminder"
    # An unknown language falls back to Chinese rather than failing a delivery.
    assert get_template("booking_reminder").render(params, "fr") == zh


def test_params_must_be_exactly_the_placeholders_and_plain_values():
    good = {"program": "高血压", "due_date": "2026-06-01", "team": "白云家庭医生团队"}
    assert check_params("followup_due", good) == good
    with pytest.raises(InvalidParams, match="due_date"):
        check_params("followup_due", {"program": "高血压", "team": "T"})
    with pytest.raises(InvalidParams, match="phone"):
        check_params("followup_due", {**good, "phone": "13800138000"})
    with pytest.raises(InvalidParams):
        check_params("followup_due", {**good, "team": {"nested": "object"}})
    with pytest.raises(UnknownTemplate):
        check_params("no_such_template", {})


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"t": {"zh": {"title": "a", "body": "b"}}}, "languages"),
        ({"t": {"zh": {"title": "a"}, "en": {"title": "a", "body": "b"}}}, "title and a body"),
        (
            {"t": {"zh": {"title": "a", "body": "{x}"}, "en": {"title": "a", "body": "{y}"}}},
            "different placeholders",
        ),
        (
            {
                "t": {
                    "zh": {"title": "a", "body": "{x.__class__}"},
                    "en": {"title": "a", "body": "{x.__class__}"},
                }
            },
            "plain name",
        ),
        ({"t": {"zh": {"title": "a", "body": "{"}, "en": {"title": "a", "body": "{"}}}, "t"),
        ([], "map template keys"),
    ],
)
def test_a_broken_templates_file_is_refused_with_the_reason(doc, message):
    with pytest.raises(TemplateFileError, match=message):
        parse_templates(doc)
