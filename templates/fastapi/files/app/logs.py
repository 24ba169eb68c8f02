"""Structured JSON logs on stdout: one object per line with ts, level, msg,
service, version and, while a request is handled, request_id and trace_id."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import datetime, timezone

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
trace_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace_id", default=None)

# Record attributes that are not extra fields (uvicorn's color_message repeats
# msg with terminal colours).
_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str, version: str) -> None:
        super().__init__()
        self.service = service
        self.version = version

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": datetime.fromtimestamp(record.created, tz=timezone.utc)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
            "service": self.service,
            "version": self.version,
            "logger": record.name,
        }
        request_id = request_id_var.get()
        if request_id:
            doc["request_id"] = request_id
            doc["trace_id"] = trace_id_var.get() or request_id
        # Fields passed with `extra={...}`.
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_") and key not in doc:
                doc[key] = value
        if record.exc_info:
            doc["error"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


def configure_logging(service: str, version: str, level: str = "info") -> None:
    """Send every logger (uvicorn's included) through one JSON handler."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service, version))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers = []
        lg.propagate = True
    # Requests are logged by the app's middleware, with their request id.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # aiokafka logs every failed reconnect at ERROR; the app reports them itself.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
