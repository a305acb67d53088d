"""Structured JSON logs for the agent, configured once in its entry point."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_EXTRA_KEYS = ("edge_id", "device_id", "seq", "tenant", "request_id")


class JsonFormatter(logging.Formatter):
    def __init__(self, edge_id: str) -> None:
        super().__init__()
        self.edge_id = edge_id

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "edge_id": self.edge_id,
        }
        for key in _EXTRA_KEYS:
            if key in record.__dict__:
                data[key] = record.__dict__[key]
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def configure(edge_id: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(edge_id))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # pymodbus logs every timeout with frame dumps at ERROR; the supervisor already reports failures once
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
