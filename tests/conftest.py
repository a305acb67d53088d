"""Shared test plumbing: real services are found by address; missing ones fail under CI and skip elsewhere."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

import pytest

SERVICES = {
    "postgresql": ("TRACSEQ_TEST_PG_HOST", "127.0.0.1", "TRACSEQ_TEST_PG_PORT", 5432),
    "redis": ("TRACSEQ_TEST_REDIS_HOST", "127.0.0.1", "TRACSEQ_TEST_REDIS_PORT", 6379),
    "mqtt": ("TRACSEQ_TEST_MQTT_HOST", "127.0.0.1", "TRACSEQ_TEST_MQTT_PORT", 1883),
}
_skipped: dict[str, str] = {}


def service_address(name: str) -> tuple[str, int]:
    host_var, host, port_var, port = SERVICES[name]
    return os.environ.get(host_var, host), int(os.environ.get(port_var, str(port)))


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def require_service() -> Callable[[str], tuple[str, int]]:
    """Return a service's (host, port); fail under CI=true when it is down, skip otherwise."""

    def need(name: str) -> tuple[str, int]:
        host, port = service_address(name)
        if _reachable(host, port):
            return host, port
        message = f"{name} is not reachable at {host}:{port}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} (CI=true: tests that need it must run)")
        _skipped[name] = message
        pytest.skip(message)

    return need


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for name, message in sorted(_skipped.items()):
        terminalreporter.write_line(f"SERVICE MISSING: tests needing {name} were skipped ({message})", yellow=True)
