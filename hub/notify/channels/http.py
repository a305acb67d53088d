"""Posting to HTTP providers with httpx, and turning their answers into receipts or delivery errors.

A webhook URL is a credential: it never appears in an error or a log line, only its host does.
"""

from __future__ import annotations

import json
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from hub.db.base import utcnow
from hub.notify.errors import PermanentDeliveryError, RetryableDeliveryError

# the channel is broken (revoked webhook, wrong token, gone): retry, counting against the breaker, until fixed
_CHANNEL_BROKEN = {401, 403, 404, 410}
_TRY_AGAIN = {408, 409, 425, 429}


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - utcnow()).total_seconds())
    except (TypeError, ValueError):
        return None


async def post(
    client: httpx.AsyncClient,
    url: str,
    payload: Any,
    *,
    idempotency_key: str,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
) -> httpx.Response:
    """POST JSON; a 2xx answer is returned, anything else raised as the delivery error it is."""
    host = urlsplit(url).hostname or "?"
    body = content if content is not None else json.dumps(payload, ensure_ascii=False).encode()
    sent_headers = {"content-type": "application/json", "idempotency-key": idempotency_key, **(headers or {})}
    try:
        response = await client.post(url, content=body, headers=sent_headers)
    except httpx.TimeoutException as exc:
        raise RetryableDeliveryError(f"{host} did not answer in time ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise RetryableDeliveryError(f"cannot reach {host}: {type(exc).__name__}: {exc}") from exc
    status = response.status_code
    if 200 <= status < 300:
        return response
    snippet = response.text[:200].strip()
    detail = f"{host} answered {status}" + (f": {snippet}" if snippet else "")
    if status >= 500 or status in _TRY_AGAIN or status in _CHANNEL_BROKEN:
        raise RetryableDeliveryError(detail, status_code=status, retry_after_s=retry_after(response))
    raise PermanentDeliveryError(detail, status_code=status)
