"""Modbus TCP transport: MBAP framing over asyncio streams."""

from __future__ import annotations

import asyncio
import logging
import struct

from freezer.device import Freezer
from freezer.listener import Listener

log = logging.getLogger("freezer.tcp")

MBAP = struct.Struct(">HHHB")
"""Transaction id, protocol id (0), length (unit id + PDU), unit id."""
MAX_PDU = 253


class ModbusTcpServer(Listener):
    def __init__(self, device: Freezer) -> None:
        super().__init__()
        self._device = device

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            transaction, protocol, length, unit = MBAP.unpack(await reader.readexactly(MBAP.size))
            if not 2 <= length <= MAX_PDU + 1:
                log.warning("bad MBAP length %d, closing the connection", length)
                return
            pdu = await reader.readexactly(length - 1)
            if protocol != 0:
                continue
            response = self._device.handle(unit, pdu, serial=False)
            if response is None:
                continue
            writer.write(MBAP.pack(transaction, 0, len(response) + 1, unit) + response)
            await writer.drain()
