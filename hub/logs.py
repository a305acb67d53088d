"""Structured JSON logs for hub processes (API and workers), configured once in their entry points.

Every line carries the hub's name and, inside a request, its request id (from ``hub.context``).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from hub import context
from hub.settings import HubSettings

_EXTRA_KEYS = ("tenant", "request_id", "offset", "group", "device_id")


class JsonFormatter(logging.Formatter):
    def __init__(self, hub_name: str) -> None:
        super().__init__()
        self.hub_name = hub_name

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "hub": self.hub_name,
        }
        request_id = context.request_id.get()
        if request_id is not None:
            data["request_id"] = request_id
        for key in _EXTRA_KEYS:
            if key in record.__dict__:
                data[key] = record.__dict__[key]
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def configure_logging(settings: HubSettings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(settings.name))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
