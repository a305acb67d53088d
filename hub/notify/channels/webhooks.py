"""Slack, Microsoft Teams and generic JSON webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx

from hub.notify.channels.base import Outgoing, Receipt
from hub.notify.channels.http import post
from hub.notify.errors import PermanentDeliveryError


def _secret(message: Outgoing, name: str) -> str:
    value = message.secrets.get(name)
    if not value:
        raise PermanentDeliveryError(f"the {message.channel_kind} channel {message.channel_name!r} has no {name}")
    return str(value)


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackChannel:
    """An incoming webhook. Slack answers ``ok`` once the post is in the channel: that is "delivered". Slack keeps
    no idempotency keys; the header is sent anyway, for proxies that honour it."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def send(self, message: Outgoing) -> Receipt:
        mention = f"<@{message.address}> " if message.address else ""
        text = f"{mention}*{_slack_escape(message.subject)}*\n{_slack_escape(message.body)}"
        response = await post(self.client, _secret(message, "webhook_url"), {"text": text}, idempotency_key=message.id)
        return Receipt(delivered=response.text.strip() == "ok", status_code=response.status_code)


class TeamsChannel:
    """A Teams Workflows webhook posting an Adaptive Card; it answers 202 (accepted), so the message is "sent"."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def send(self, message: Outgoing) -> Receipt:
        blocks: list[dict[str, Any]] = [
            {"type": "TextBlock", "text": message.subject, "weight": "Bolder", "size": "Medium", "wrap": True},
            {"type": "TextBlock", "text": message.body, "wrap": True},
        ]
        if message.address:
            blocks.insert(0, {"type": "TextBlock", "text": f"For {message.address}", "isSubtle": True})
        card = {
            "type": "message",
            "attachments": [
                {
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": blocks,
                    },
                }
            ],
        }
        response = await post(self.client, _secret(message, "webhook_url"), card, idempotency_key=message.id)
        return Receipt(status_code=response.status_code)


class WebhookChannel:
    """A JSON document per message with an ``Idempotency-Key`` header (the message id: a receiver that keeps the
    keys it has seen drops the rare repeat after a crash). With a signing secret, ``X-TracSeq-Timestamp`` and
    ``X-TracSeq-Signature: sha256=<hex HMAC of "<timestamp>.<body>">`` let the receiver check it came from us."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def send(self, message: Outgoing) -> Receipt:
        document = {
            "id": message.id,
            "kind": message.kind,
            "severity": message.severity,
            "subject": message.subject,
            "body": message.body,
            "recipient": message.address,
            "context": message.context,
            "created_at": message.created_at.isoformat(),
        }
        content = json.dumps(document, ensure_ascii=False).encode()
        headers = {}
        signing_secret = message.secrets.get("signing_secret")
        if signing_secret:
            stamp = str(int(time.time()))
            digest = hmac.new(str(signing_secret).encode(), stamp.encode() + b"." + content, hashlib.sha256)
            headers = {"x-tracseq-timestamp": stamp, "x-tracseq-signature": f"sha256={digest.hexdigest()}"}
        response = await post(
            self.client, _secret(message, "url"), None, idempotency_key=message.id, headers=headers, content=content
        )
        return Receipt(status_code=response.status_code)
