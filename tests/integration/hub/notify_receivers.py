"""Real local servers standing in for notification providers, on 127.0.0.1 and a free port each.

``HttpReceiver``: a small HTTP/1.1 server (asyncio streams, one request per connection) that records every request
and answers from a script: Slack, Teams, an SMS provider, a generic webhook, or a provider that is down or hangs.
``SmtpInbox``: an aiosmtpd server in its own thread that keeps every message it accepts.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)


Responder = Callable[[Received], Answer]


class HttpReceiver:
    """Answers each request with the next of ``script`` and then with ``then``; ``delay_s`` before answering;
    ``hang`` never answers (a provider that accepts connections and goes silent)."""

    def __init__(
        self,
        *,
        script: list[Answer] | None = None,
        then: Answer | Responder = Answer(),
        delay_s: float = 0.0,
        hang: bool = False,
    ) -> None:
        self.script = list(script or [])
        self.then = then
        self.delay_s = delay_s
        self.hang = hang
        self.requests: list[Received] = []
        self.arrived = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[Any]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def keys(self) -> list[str]:
        return [r.headers.get("idempotency-key", "") for r in self.requests]

    async def __aenter__(self) -> HttpReceiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._connections):
            writer.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _version = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            request = Received(method, path, headers, body)
            self.requests.append(request)
            self.arrived.set()
            if self.hang:
                await asyncio.Event().wait()
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            answer = self.script.pop(0) if self.script else self.then
            if not isinstance(answer, Answer):
                answer = answer(request)
            payload = answer.body.encode()
            extra = "".join(f"{k}: {v}\r\n" for k, v in answer.headers.items())
            status_line = (
                f"HTTP/1.1 {answer.status} X\r\nContent-Length: {len(payload)}\r\nConnection: close\r\n{extra}\r\n"
            )
            writer.write(status_line.encode() + payload)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._connections.discard(writer)
            if task is not None:
                self._handlers.discard(task)
            with contextlib.suppress(Exception):
                writer.close()


def dead_port() -> str:
    """A URL where nothing listens (connections are refused)."""
    return f"http://127.0.0.1:{free_port()}/hook"


class _Keeper:
    def __init__(self, inbox: SmtpInbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.inbox.lock:
            self.inbox.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


class SmtpInbox:
    """An SMTP server (aiosmtpd) on 127.0.0.1 that accepts and keeps every message; no TLS, no authentication."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.lock = threading.Lock()
        self.port = free_port()
        self._controller = Controller(_Keeper(self), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpInbox:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    def received(self) -> list[tuple[list[str], EmailMessage]]:
        with self.lock:
            return list(self.messages)
