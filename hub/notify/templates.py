"""Message texts per event kind and language (en, de, fr), rendered once, when a message is queued.

The alerts module passes a context of plain values; the keys the texts use are ``title`` (what is wrong, e.g.
"Freezer F-12 above -70 °C"), ``detail``, ``location``, ``value``, ``limit``, ``since``, ``step``,
``acknowledged_by``, ``resolved_at`` and ``link``. A line whose every key is missing from the context is left
out; any other missing key renders as "?" (a message with a gap beats no message). Times (``since`` and keys
ending in ``_at``, as aware datetimes or ISO 8601 text) are shown in the reader's zone. A kind without texts of
its own uses the generic ones; a language without texts uses English.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

DEFAULT_LANGUAGE = "en"
GENERIC = "generic"


@dataclass(frozen=True)
class Text:
    subject: str
    body: str


TEXTS: dict[str, dict[str, Text]] = {
    "en": {
        "alert.raised": Text(
            "[{severity}] {title}",
            "{title}\n{detail}\nWhere: {location}\nValue: {value} (limit {limit})\nSince: {since}\n\n"
            "Take responsibility by acknowledging it: {link}",
        ),
        "alert.escalated": Text(
            "[{severity}] Not acknowledged (step {step}): {title}",
            "Nobody has acknowledged this alert yet, so it now reaches you.\n\n{title}\n{detail}\n"
            "Where: {location}\nValue: {value} (limit {limit})\nSince: {since}\n\nAcknowledge it: {link}",
        ),
        "alert.acknowledged": Text(
            "Acknowledged: {title}", "{acknowledged_by} took responsibility for this alert.\n\n{title}\n{link}"
        ),
        "alert.resolved": Text("Resolved: {title}", "{title}\nBack within limits since {resolved_at}.\n{link}"),
        "test": Text(
            "TracSeq test notification",
            "This is a test of the channel {channel}. If you can read it, alerts will reach you here.",
        ),
        GENERIC: Text("[{severity}] {title}", "{title}\n{detail}\n{link}"),
    },
    "de": {
        "alert.raised": Text(
            "[{severity}] {title}",
            "{title}\n{detail}\nOrt: {location}\nWert: {value} (Grenze {limit})\nSeit: {since}\n\n"
            "Übernehmen Sie die Verantwortung, indem Sie den Alarm bestätigen: {link}",
        ),
        "alert.escalated": Text(
            "[{severity}] Nicht bestätigt (Stufe {step}): {title}",
            "Niemand hat diesen Alarm bisher bestätigt, deshalb erreicht er jetzt Sie.\n\n{title}\n{detail}\n"
            "Ort: {location}\nWert: {value} (Grenze {limit})\nSeit: {since}\n\nBestätigen: {link}",
        ),
        "alert.acknowledged": Text(
            "Bestätigt: {title}",
            "{acknowledged_by} hat die Verantwortung für diesen Alarm übernommen.\n\n{title}\n{link}",
        ),
        "alert.resolved": Text("Behoben: {title}", "{title}\nSeit {resolved_at} wieder innerhalb der Grenzen.\n{link}"),
        "test": Text(
            "TracSeq-Testbenachrichtigung",
            "Dies ist ein Test des Kanals {channel}. Wenn Sie dies lesen können, erreichen Alarme Sie hier.",
        ),
        GENERIC: Text("[{severity}] {title}", "{title}\n{detail}\n{link}"),
    },
    "fr": {
        "alert.raised": Text(
            "[{severity}] {title}",
            "{title}\n{detail}\nLieu : {location}\nValeur : {value} (limite {limit})\nDepuis : {since}\n\n"
            "Prenez-en la responsabilité en acquittant l'alerte : {link}",
        ),
        "alert.escalated": Text(
            "[{severity}] Non acquittée (niveau {step}) : {title}",
            "Personne n'a encore acquitté cette alerte ; elle vous parvient donc maintenant.\n\n{title}\n{detail}\n"
            "Lieu : {location}\nValeur : {value} (limite {limit})\nDepuis : {since}\n\nAcquitter : {link}",
        ),
        "alert.acknowledged": Text(
            "Acquittée : {title}", "{acknowledged_by} a pris la responsabilité de cette alerte.\n\n{title}\n{link}"
        ),
        "alert.resolved": Text(
            "Résolue : {title}", "{title}\nDe nouveau dans les limites depuis {resolved_at}.\n{link}"
        ),
        "test": Text(
            "Notification de test TracSeq",
            "Ceci est un test du canal {channel}. Si vous pouvez le lire, les alertes vous parviendront ici.",
        ),
        GENERIC: Text("[{severity}] {title}", "{title}\n{detail}\n{link}"),
    },
}

SEVERITY_LABELS = {
    "en": {"info": "INFO", "warning": "WARNING", "critical": "CRITICAL"},
    "de": {"info": "INFO", "warning": "WARNUNG", "critical": "KRITISCH"},
    "fr": {"info": "INFO", "warning": "AVERTISSEMENT", "critical": "CRITIQUE"},
}
LANGUAGES = tuple(TEXTS)


def language_of(preference: str | None) -> str:
    """The supported language for a preference such as ``de-CH`` or ``fr_FR``; English when there is none."""
    if preference:
        primary = preference.replace("_", "-").split("-")[0].lower()
        if primary in TEXTS:
            return primary
    return DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Rendered:
    language: str
    subject: str
    body: str


class _Lenient(string.Formatter):
    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = values

    def get_value(self, key: int | str, args: Any, kwargs: Any) -> Any:
        return self.values.get(str(key), "?")


def _shown(key: str, value: Any, tz: ZoneInfo) -> str:
    if value is None:
        return "?"
    if key == "since" or key.endswith("_at"):
        moment = value
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                return value
        if isinstance(moment, datetime) and moment.tzinfo is not None:
            return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
    return str(value)


def _fill(template: str, formatter: _Lenient) -> str:
    lines = []
    for line in template.split("\n"):
        keys = [field for _, field, _, _ in formatter.parse(line) if field is not None]
        if keys and not any(key in formatter.values for key in keys):
            continue
        lines.append(formatter.format(line))
    return "\n".join(lines)


def render(
    kind: str, severity: str, language: str | None, context: Mapping[str, Any], tz: ZoneInfo | None = None
) -> Rendered:
    """The subject and body of a ``kind`` message in the reader's language, with times in the reader's zone."""
    lang = language_of(language)
    zone = tz or ZoneInfo("UTC")
    texts = TEXTS[lang]
    text = texts.get(kind) or texts[GENERIC]
    values = {str(k): _shown(str(k), v, zone) for k, v in context.items() if v is not None}
    values["severity"] = SEVERITY_LABELS[lang].get(severity, severity.upper())
    formatter = _Lenient(values)
    subject = " ".join(formatter.format(text.subject).split())  # one line: a header, an SMS, a card title
    return Rendered(lang, subject, _fill(text.body, formatter))
