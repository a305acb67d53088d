"""Channel configuration: what is secret, how secrets are shown, and which configurations are refused."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, TypeAdapter, ValidationError

from hub.errors import ValidationFailedError
from hub.notify.channels.config import ChannelConfig, SlackConfig, check_complete, mask, masked, split

SLACK_URL = "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXabcd"


def test_a_webhook_url_is_stored_as_a_secret_and_shown_as_its_host_only() -> None:
    plain, secrets = split(SlackConfig(kind="slack", webhook_url=SecretStr(SLACK_URL)))
    assert plain == {}
    assert secrets == {"webhook_url": SLACK_URL}
    shown = masked("slack", secrets)["webhook_url"]
    assert shown == "https://hooks.slack.com/…abcd"
    assert "T0000" not in shown


def test_a_password_shows_nothing_but_that_it_is_set() -> None:
    config = TypeAdapter(ChannelConfig).validate_python(
        {"kind": "email", "from_address": "alerts@lab.example", "username": "relay", "password": "hunter2"}
    )
    plain, secrets = split(config)
    assert plain == {"from_address": "alerts@lab.example", "username": "relay", "security": "starttls"}
    assert masked("email", secrets) == {"password": "…"}
    assert mask("api_token", "sk_live_0123456789abcdefghijWXYZ") == "…WXYZ"


def test_a_channel_without_its_required_secret_is_refused() -> None:
    _plain, secrets = split(SlackConfig(kind="slack"))
    with pytest.raises(ValidationFailedError, match="webhook_url"):
        check_complete("slack", secrets)


@pytest.mark.parametrize("url", ["ftp://hooks.example/x1234567", "hooks.slack.com/services/x", "https:///nohost"])
def test_a_url_that_is_not_http_is_refused(url: str) -> None:
    with pytest.raises(ValidationFailedError, match="http"):
        split(SlackConfig(kind="slack", webhook_url=SecretStr(url)))


def test_unknown_settings_and_kinds_are_refused() -> None:
    adapter = TypeAdapter(ChannelConfig)
    with pytest.raises(ValidationError):
        adapter.validate_python({"kind": "pager", "url": "https://x.example/"})
    with pytest.raises(ValidationError):
        adapter.validate_python({"kind": "slack", "webhook_url": SLACK_URL, "colour": "red"})
