"""The channels a message can go out on: e-mail (SMTP), Slack, Microsoft Teams, SMS and generic webhooks."""

from __future__ import annotations

import httpx

from hub.notify.channels.base import Channel, Outgoing, Receipt
from hub.notify.channels.email import EmailChannel, SmtpRelay
from hub.notify.channels.sms import SmsChannel
from hub.notify.channels.webhooks import SlackChannel, TeamsChannel, WebhookChannel

__all__ = [
    "Channel",
    "EmailChannel",
    "Outgoing",
    "Receipt",
    "SlackChannel",
    "SmsChannel",
    "SmtpRelay",
    "TeamsChannel",
    "WebhookChannel",
    "standard_channels",
]


def standard_channels(
    client: httpx.AsyncClient,
    *,
    smtp: SmtpRelay | None = None,
    sms_api_url: str | None = None,
    timeout_s: float = 10.0,
) -> dict[str, Channel]:
    """One sender per channel kind; the HTTP ones share ``client`` (its timeout bounds each request)."""
    return {
        "email": EmailChannel(smtp, timeout_s=timeout_s),
        "slack": SlackChannel(client),
        "teams": TeamsChannel(client),
        "sms": SmsChannel(client, default_api_url=sms_api_url),
        "webhook": WebhookChannel(client),
    }
