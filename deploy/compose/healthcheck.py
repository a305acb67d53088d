#!/usr/bin/env python3
"""Health check for the hub image (no curl in a slim image): standard library only, exit 0 healthy, 1 not.

tracseq-healthcheck http://127.0.0.1:8000/readyz   # the API: /readyz answers 200 (database and Redis reachable)
tracseq-healthcheck --worker                       # a worker: PID 1 is 'tracseq hub worker' and the database
                                                   # and Redis named by TRACSEQ_HUB_* accept connections
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

DEFAULT_PORTS = {"postgresql": 5432, "postgres": 5432, "redis": 6379, "rediss": 6379}


def check_http(url: str, timeout: float = 4.0) -> str | None:
    if urlsplit(url).scheme not in {"http", "https"}:
        return f"not an http(s) URL: {url}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - scheme checked above
            return None if response.status == 200 else f"{url}: HTTP {response.status}"
    except (urllib.error.URLError, OSError) as exc:
        return f"{url}: {exc}"


def endpoint(url: str) -> tuple[str, int] | None:
    """Host and port of a database or Redis URL; None for SQLite or an unset URL."""
    if not url or url.startswith("sqlite"):
        return None
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    return parts.hostname or "localhost", parts.port or DEFAULT_PORTS.get(scheme, 0)


def check_worker() -> str | None:
    try:
        with open("/proc/1/cmdline", "rb") as handle:
            cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        cmdline = ""
    if cmdline and "worker" not in cmdline:
        return f"PID 1 is not a worker: {cmdline.strip()}"
    return check_deps()


def check_deps(timeout: float = 3.0) -> str | None:
    for name in ("TRACSEQ_HUB_DATABASE_URL", "TRACSEQ_HUB_REDIS_URL"):
        where = endpoint(os.environ.get(name, ""))
        if where is None:
            continue
        try:
            socket.create_connection(where, timeout=timeout).close()
        except OSError as exc:
            return f"{name}: {where[0]}:{where[1]} unreachable: {exc}"
    return None


def main(argv: list[str]) -> int:
    if argv == ["--worker"]:
        problem = check_worker()
    elif argv == ["--deps"]:
        problem = check_deps()
    elif len(argv) == 1:
        problem = check_http(argv[0])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
