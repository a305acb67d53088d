"""What each kind of channel is configured with, which of it is secret, and how a secret is shown (never whole).

Secrets (webhook URLs, which are bearer credentials; passwords; API tokens) are stored apart from the rest of the
configuration, so everything that shows or audits a channel handles ``config`` and a masked view of ``secrets``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter

from hub.errors import ValidationFailedError

ChannelKind = Literal["email", "slack", "teams", "sms", "webhook"]
KINDS: tuple[str, ...] = ("email", "slack", "teams", "sms", "webhook")

Url = Annotated[SecretStr, Field(min_length=8, max_length=2000)]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmailConfig(_Config):
    """SMTP: the hub's relay (from the hub settings) unless ``host`` is given."""

    kind: Literal["email"]
    from_address: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=320)]
    host: Annotated[str | None, Field(min_length=1, max_length=255)] = None
    port: Annotated[int | None, Field(ge=1, le=65535)] = None
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: Annotated[str | None, Field(min_length=1, max_length=255)] = None
    password: Annotated[SecretStr | None, Field(max_length=1000)] = None


class SlackConfig(_Config):
    """A Slack incoming webhook; a subscriber's address is the member id to mention (``U012AB3CD``)."""

    kind: Literal["slack"]
    webhook_url: Url | None = None


class TeamsConfig(_Config):
    """A Microsoft Teams Workflows webhook ("When a Teams webhook request is received"): an Adaptive Card."""

    kind: Literal["teams"]
    webhook_url: Url | None = None


class SmsConfig(_Config):
    """An SMS provider's HTTP API (the hub's default provider URL unless ``api_url`` is given)."""

    kind: Literal["sms"]
    sender: Annotated[str, Field(min_length=1, max_length=32)]
    api_url: Url | None = None
    api_token: Annotated[SecretStr | None, Field(max_length=1000)] = None


class WebhookConfig(_Config):
    """A generic JSON webhook, optionally signed (HMAC-SHA256 of ``<timestamp>.<body>``)."""

    kind: Literal["webhook"]
    url: Url | None = None
    signing_secret: Annotated[SecretStr | None, Field(min_length=16, max_length=1000)] = None


ChannelConfig = Annotated[
    EmailConfig | SlackConfig | TeamsConfig | SmsConfig | WebhookConfig, Field(discriminator="kind")
]
SECRET_FIELDS: dict[str, tuple[str, ...]] = {
    "email": ("password",),
    "slack": ("webhook_url",),
    "teams": ("webhook_url",),
    "sms": ("api_url", "api_token"),
    "webhook": ("url", "signing_secret"),
}
REQUIRED_SECRETS: dict[str, tuple[str, ...]] = {
    "email": (),
    "slack": ("webhook_url",),
    "teams": ("webhook_url",),
    "sms": (),
    "webhook": ("url",),
}
URL_SECRETS = {"webhook_url", "api_url", "url"}
_ADAPTER: TypeAdapter[ChannelConfig] = TypeAdapter(ChannelConfig)


def split(config: ChannelConfig) -> tuple[dict[str, Any], dict[str, str]]:
    """(plain settings, secrets given) of a configuration; secrets left out are not in the second dict."""
    values = config.model_dump(exclude_none=True)
    secret_names = SECRET_FIELDS[config.kind]
    plain = {k: v for k, v in values.items() if k not in secret_names and k != "kind"}
    secrets = {k: v.get_secret_value() for k, v in values.items() if k in secret_names}
    for name in secrets.keys() & URL_SECRETS:
        check_url(name, secrets[name])
    return plain, secrets


def check_complete(kind: str, secrets: dict[str, Any]) -> None:
    missing = [name for name in REQUIRED_SECRETS[kind] if not secrets.get(name)]
    if missing:
        raise ValidationFailedError(f"a {kind} channel needs {', '.join(missing)}")


def check_url(name: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValidationFailedError(f"{name} must be an http(s) URL with a host")


def mask(name: str, value: str) -> str:
    """A secret as shown: a URL keeps its scheme and host, anything else only that it is set; both keep the last
    four characters when the secret is long enough that they give nothing away."""
    tail = value[-4:] if len(value) >= 24 else ""
    if name in URL_SECRETS:
        parts = urlsplit(value)
        return f"{parts.scheme}://{parts.hostname}/…{tail}"
    return f"…{tail}" if tail else "…"


def masked(kind: str, secrets: dict[str, Any]) -> dict[str, str]:
    return {name: mask(name, str(value)) for name, value in secrets.items() if name in SECRET_FIELDS[kind]}


def parse(kind: str, plain: dict[str, Any], secrets: dict[str, Any]) -> ChannelConfig:
    """A stored configuration as its model again (for checks when a channel is updated)."""
    return _ADAPTER.validate_python({"kind": kind, **plain, **secrets})
