"""A loopback stream server that tracks its connections so that stopping it ends them all."""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger("freezer.listener")


class Listener:
    """Subclasses implement ``serve``; connection errors and cancellation end a connection quietly."""

    limit = 64 * 1024

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> str:
        """Listen and return the bound ``host:port`` (port 0 picks a free one)."""
        self._server = await asyncio.start_server(self._accept, host, port, limit=self.limit)
        bound_host, bound_port = self._server.sockets[0].getsockname()[:2]
        return f"{bound_host}:{bound_port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        peer = writer.get_extra_info("peername")
        log.debug("%s: connection from %s", type(self).__name__, peer)
        try:
            await self.serve(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()
            log.debug("%s: connection from %s closed", type(self).__name__, peer)
