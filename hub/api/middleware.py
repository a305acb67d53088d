"""Request ids, body size limits and request metrics, as plain ASGI middleware (no per-request threads)."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub import context
from hub.api.problems import PROBLEM, document


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tracseq_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "tracseq_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.bad_input = Counter(
            "tracseq_bad_input_total",
            "Requests refused as bad input (4xx)",
            ["route", "status"],
            registry=self.registry,
        )


class RequestContext:
    """Gives each request an id (or keeps a sane incoming X-Request-ID), echoes it, and measures the request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = context.request_id.set(request_id)
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            context.request_id.reset(token)
            route = _route(scope)
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(scope["method"], route).observe(time.perf_counter() - start)
            if 400 <= status < 500:
                self.metrics.bad_input.labels(route, str(status)).inc()


def _route(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


class BodyLimit:
    """Refuses bodies over ``limit`` bytes with 413, by Content-Length and while streaming.

    A streamed body that grows too large raises ``BodyTooLargeError`` (an HTTPException) in ``receive``: FastAPI
    passes HTTPExceptions from the body reader through, so the app's problem handler answers; any other exception
    there would become a 400 "error parsing the body". If the body was read outside a route, this middleware answers.
    """

    def __init__(
        self, app: ASGIApp, limit: int, *, upload_limit: int | None = None, upload_paths: str | None = None
    ) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit if upload_limit is not None else limit
        self.upload_paths = re.compile(upload_paths) if upload_paths else None

    def limit_for(self, path: str) -> int:
        """File uploads (spreadsheets, manuals as PDF) may be larger than JSON requests."""
        if self.upload_paths is not None and self.upload_paths.fullmatch(path):
            return self.upload_limit
        return self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await self._refuse(scope, send, limit)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLargeError(limit)
            return message

        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, watch)
        except BodyTooLargeError:
            if started:
                raise
            await self._refuse(scope, send, limit)

    async def _refuse(self, scope: Scope, send: Send, limit: int) -> None:
        problem = document(
            413,
            "Payload too large",
            f"the body is larger than {limit} bytes",
            "too-large",
            instance=scope.get("path", ""),
            request_id=scope.get("state", {}).get("request_id"),
        )
        body = json.dumps(problem).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", PROBLEM.encode()), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


class BodyTooLargeError(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body is larger than {limit} bytes")
