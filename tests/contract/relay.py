"""A Modbus TCP relay for the contract tests: passes a client's traffic to the simulator and back, and can spoil
the next register responses in a way only the client's own checks can catch.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

LOCALHOST = "127.0.0.1"

MBAP = struct.Struct(">HHHB")  # transaction id, protocol id, length (unit id + PDU), unit id
READ_REGISTER_FUNCTIONS = frozenset({0x03, 0x04})


def _receive_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return bytes(data)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already shut down, or never connected
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class RegisterCuttingRelay:
    """A loopback Modbus TCP relay that can cut the last register out of the next register responses.

    The shortened frame stays well formed (byte count and MBAP length agree), as from a gateway that mangles an
    answer: only the driver's own check (registers asked for vs. registers received) can tell. Everything else is
    passed through byte for byte. Threads, not the test's event loop, so it lives as long as the device.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        self._listener = socket.create_server((LOCALHOST, 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._to_cut = 0
        self._stopping = threading.Event()
        self._sockets: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, name="relay-accept", daemon=True)]
        self._threads[0].start()

    def cut_next(self, responses: int = 1) -> None:
        with self._lock:
            self._to_cut += responses

    def close(self) -> None:
        self._stopping.set()
        self._listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _close(sock)
        for thread in self._threads:
            thread.join(timeout=2)

    def _take_cut(self) -> bool:
        with self._lock:
            if self._to_cut:
                self._to_cut -= 1
                return True
            return False

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                server = socket.create_connection(self._upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._sockets += [client, server]
            for target, args in ((self._pass_requests, (client, server)), (self._pass_responses, (server, client))):
                thread = threading.Thread(target=target, args=args, daemon=True)
                self._threads.append(thread)
                thread.start()

    def _pass_requests(self, client: socket.socket, server: socket.socket) -> None:
        try:
            while data := client.recv(4096):
                server.sendall(data)
        except OSError:
            pass
        finally:
            _close(server)

    def _pass_responses(self, server: socket.socket, client: socket.socket) -> None:
        try:
            while True:
                transaction, protocol, length, unit = MBAP.unpack(_receive_exactly(server, MBAP.size))
                pdu = _receive_exactly(server, length - 1)
                if pdu[0] in READ_REGISTER_FUNCTIONS and pdu[1] >= 2 and self._take_cut():
                    pdu = bytes([pdu[0], pdu[1] - 2]) + pdu[2:-2]
                client.sendall(MBAP.pack(transaction, protocol, len(pdu) + 1, unit) + pdu)
        except (OSError, EOFError):
            pass
        finally:
            _close(client)
