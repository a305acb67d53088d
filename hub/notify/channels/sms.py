"""SMS through a provider's HTTP API.

The request is the common shape of SMS APIs: ``POST {api_url}`` with a bearer token, ``Idempotency-Key`` and
``{"to", "from", "text", "reference"}`` (the message id again, which providers echo in delivery receipts). The
answer's ``id`` is kept to match receipts; a ``status`` of ``delivered`` marks the message delivered at once.
"""

from __future__ import annotations

import re

import httpx

from hub.notify.channels.base import Outgoing, Receipt
from hub.notify.channels.http import post
from hub.notify.errors import PermanentDeliveryError

MAX_TEXT = 459  # three concatenated GSM-7 segments: past that, providers split or refuse
_PHONE = re.compile(r"^\+[1-9]\d{6,14}$")


def check_phone(number: str) -> None:
    if not _PHONE.match(number):
        raise PermanentDeliveryError(f"{number!r} is not a phone number in E.164 form (+4930123456)")


class SmsChannel:
    def __init__(self, client: httpx.AsyncClient, *, default_api_url: str | None = None) -> None:
        self.client = client
        self.default_api_url = default_api_url

    async def send(self, message: Outgoing) -> Receipt:
        if not message.address:
            raise PermanentDeliveryError("no phone number to send the SMS to")
        check_phone(message.address)
        url = message.secrets.get("api_url") or self.default_api_url
        if not url:
            raise PermanentDeliveryError(f"the SMS channel {message.channel_name!r} has no api_url, nor the hub")
        text = f"{message.subject}\n{message.body}"
        if len(text) > MAX_TEXT:
            text = text[: MAX_TEXT - 1] + "…"
        token = message.secrets.get("api_token")
        response = await post(
            self.client,
            str(url),
            {"to": message.address, "from": message.config.get("sender"), "text": text, "reference": message.id},
            idempotency_key=message.id,
            headers={"authorization": f"Bearer {token}"} if token else None,
        )
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        provider_id = answer.get("id") or answer.get("message_id")
        return Receipt(
            delivered=str(answer.get("status", "")).lower() == "delivered",
            provider_message_id=str(provider_id) if provider_id else None,
            status_code=response.status_code,
        )
