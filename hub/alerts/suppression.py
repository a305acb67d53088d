"""What keeps an alert from notifying, as pure functions: matchers (silences, policies), flapping.

A matcher is a set of labels an alert must carry exactly (``min_severity``: at least that severity). A silence
with an empty matcher would silence everything, so it is refused; a policy with an empty matcher is the catch-all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from hub.alerts.rules import Severity, severity_rank

MATCH_LABELS = ("origin", "kind", "severity", "device_id", "source", "channel", "unit_id", "group_key", "rule_id")

Label = Annotated[str, Field(min_length=1, max_length=300)]


class Matcher(BaseModel):
    """Labels an alert must carry. Every field given must match; ``min_severity`` compares by rank."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    origin: Label | None = None
    kind: Label | None = None
    severity: Severity | None = None
    min_severity: Severity | None = None
    device_id: Label | None = None
    source: Label | None = None
    channel: Label | None = None
    unit_id: Label | None = None
    group_key: Label | None = None
    rule_id: Label | None = None

    def given(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}

    @property
    def empty(self) -> bool:
        return not self.given()


def matches(matcher: Matcher | Mapping[str, Any], labels: Mapping[str, str | None]) -> bool:
    """Whether an alert with ``labels`` fits ``matcher`` (an empty matcher fits everything)."""
    wanted = matcher.given() if isinstance(matcher, Matcher) else dict(matcher)
    for key, want in wanted.items():
        if want is None:
            continue
        if key == "min_severity":
            if severity_rank(labels.get("severity") or "") < severity_rank(str(want)):
                return False
        elif labels.get(key) != want:
            return False
    return True


def is_flapping(changes: Sequence[datetime], now: datetime, window: timedelta, threshold: int) -> bool:
    """Whether a condition whose state changed at ``changes`` (fired, resolved, and firing again now) has changed
    ``threshold`` times or more within ``window`` before ``now``."""
    recent = [c for c in changes if now - window <= c <= now]
    return len(recent) >= threshold
