"""Message texts per language, their fallbacks, and how context values are shown."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from hub.notify import LANGUAGES, render
from hub.notify.templates import TEXTS, language_of

ALERT = {
    "title": "Freezer F-12 above -70 °C",
    "detail": "Door closed; compressor running.",
    "location": "Room 2.14",
    "value": "-61.2 °C",
    "limit": "-70 °C",
    "since": "2025-01-10T02:00:00+00:00",
    "step": 2,
    "link": "https://hub.lab.example/alerts/1",
}


@pytest.mark.parametrize(
    ("language", "subject", "line"),
    [
        ("en", "[CRITICAL] Not acknowledged (step 2): Freezer F-12 above -70 °C", "Since: 2025-01-10 03:00 CET"),
        ("de", "[KRITISCH] Nicht bestätigt (Stufe 2): Freezer F-12 above -70 °C", "Seit: 2025-01-10 03:00 CET"),
        ("fr", "[CRITIQUE] Non acquittée (niveau 2) : Freezer F-12 above -70 °C", "Depuis : 2025-01-10 03:00 CET"),
    ],
)
def test_an_escalation_reads_in_each_language_with_times_in_the_readers_zone(
    language: str, subject: str, line: str
) -> None:
    text = render("alert.escalated", "critical", language, ALERT, ZoneInfo("Europe/Berlin"))
    assert text.language == language
    assert text.subject == subject
    assert line in text.body.splitlines()
    assert "https://hub.lab.example/alerts/1" in text.body


def test_every_language_has_every_kind() -> None:
    kinds = set(TEXTS["en"])
    assert LANGUAGES == ("en", "de", "fr")
    assert all(set(TEXTS[lang]) == kinds for lang in LANGUAGES)


@pytest.mark.parametrize(
    ("preference", "language"),
    [("de", "de"), ("de-CH", "de"), ("fr_FR", "fr"), ("FR", "fr"), ("es", "en"), ("", "en"), (None, "en")],
)
def test_a_language_preference_falls_back_to_its_primary_language_then_english(
    preference: str | None, language: str
) -> None:
    assert language_of(preference) == language


def test_a_kind_without_texts_uses_the_generic_ones() -> None:
    text = render("door.open_too_long", "warning", "de", {"title": "Tür offen", "detail": "seit 5 min"})
    assert text.subject == "[WARNUNG] Tür offen"
    assert text.body == "Tür offen\nseit 5 min"


def test_lines_about_missing_context_are_left_out_and_other_gaps_show_a_question_mark() -> None:
    text = render("alert.raised", "warning", "en", {"title": "Room 2.14 too warm", "value": "27 °C"})
    assert "Where:" not in text.body  # no location at all: the line goes
    assert "Value: 27 °C (limit ?)" in text.body  # a value without its limit: the gap shows


def test_a_datetime_value_is_shown_in_the_readers_zone_and_other_text_as_it_is() -> None:
    since = datetime(2025, 7, 1, 1, 5, tzinfo=UTC)
    text = render("alert.raised", "info", "en", {"title": "x", "since": since}, ZoneInfo("America/New_York"))
    assert "Since: 2025-06-30 21:05 EDT" in text.body
    text = render("alert.raised", "info", "en", {"title": "x", "since": "last night"})
    assert "Since: last night" in text.body


def test_context_text_is_not_read_as_a_template() -> None:
    text = render("alert.raised", "info", "en", {"title": "{link} {0} {__class__}"})
    assert text.subject == "[INFO] {link} {0} {__class__}"


def test_the_subject_is_one_line() -> None:
    assert "\n" not in render("alert.raised", "info", "en", {"title": "two\nlines"}).subject
