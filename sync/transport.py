"""HTTP transport for the sender (httpx): TLS verification on, the device's credentials, hub errors translated."""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from sync.errors import BadBatchError, BatchTooLargeError, ChainError, ForkError, GapError, TransportError
from sync.messages import MEDIA_TYPE, SyncAck

BATCH_PATH = "/v1/sync/batches"


class HttpTransport:
    def __init__(
        self,
        hub_url: str,
        device_token: str,
        *,
        timeout_s: float = 30.0,
        verify: bool | ssl.SSLContext = True,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = hub_url.rstrip("/") + BATCH_PATH
        self._client = client or httpx.AsyncClient(timeout=timeout_s, verify=verify)
        self._headers = {
            "Authorization": f"Bearer {device_token}",
            "Content-Type": MEDIA_TYPE,
            "Content-Encoding": "gzip",
        }

    async def send(self, body: bytes) -> SyncAck:
        try:
            response = await self._client.post(self.url, content=body, headers=self._headers)
        except httpx.HTTPError as exc:
            if _untrusted_certificate(exc):
                raise TransportError(
                    f"the hub's TLS certificate is not trusted (check the hub's CA file): {exc}"
                ) from exc
            raise TransportError(f"the hub could not be reached: {type(exc).__name__}: {exc}") from exc
        if response.status_code == 200:
            return SyncAck.model_validate_json(response.content)
        problem = _problem(response)
        detail = str(problem.get("detail", response.reason_phrase))
        if response.status_code == 409 and "expected_seq" in problem:
            raise GapError(int(problem["expected_seq"]))
        if response.status_code == 409 and problem.get("kind") == "fork":
            raise ForkError(detail, seq=int(problem.get("seq", -1)), held=b"", offered=b"")
        if response.status_code == 429 or response.status_code >= 500:
            retry = response.headers.get("Retry-After")
            raise TransportError(
                f"the hub answered {response.status_code}: {detail}",
                retry_after=float(retry) if retry and retry.replace(".", "", 1).isdigit() else None,
            )
        if response.status_code == 413:
            raise BatchTooLargeError(f"the hub refused the batch as too large: {detail}")
        if response.status_code in (400, 415):
            raise BadBatchError(f"the hub refused the batch ({response.status_code}): {detail}")
        if response.status_code in (401, 403):
            raise TransportError(f"the hub refused our credentials ({response.status_code}): {detail}")
        raise ChainError(f"the hub refused the batch ({response.status_code}): {detail}")

    async def close(self) -> None:
        await self._client.aclose()


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _untrusted_certificate(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(8):  # httpx wraps httpcore's error, which wraps the ssl module's
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
