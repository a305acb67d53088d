"""PATCH bodies of the alerts API: a field left out keeps its value, an explicit null is a 422 naming it (found by
the API fuzz: null reached the database as a NOT NULL error, a 500)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hub.alerts.schemas import PolicyUpdate, RotaUpdate, RuleUpdate, WebhookUpdate


@pytest.mark.parametrize(
    ("schema", "body", "named"),
    [
        (RuleUpdate, {"reason": "fuzz", "name": None}, "name"),
        (RuleUpdate, {"reason": "fuzz", "params": None, "severity": None}, "params, severity"),
        (PolicyUpdate, {"reason": "fuzz", "name": None}, "name"),
        (RotaUpdate, {"reason": "fuzz", "shifts": None}, "shifts"),
        (WebhookUpdate, {"reason": "fuzz", "event_types": None}, "event_types"),
    ],
)
def test_an_explicit_null_is_refused_naming_the_field(schema: type, body: dict[str, object], named: str) -> None:
    with pytest.raises(ValidationError, match=f"{named}: leave a field out"):
        schema.model_validate(body)


def test_a_field_left_out_is_not_a_change() -> None:
    update = RuleUpdate.model_validate({"reason": "rename", "name": "Freezer high"})
    assert update.model_dump(exclude_unset=True, exclude={"reason"}) == {"name": "Freezer high"}
