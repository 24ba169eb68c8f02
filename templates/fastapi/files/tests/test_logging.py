"""Logs are one JSON object per line with the standard fields."""

from __future__ import annotations

import json
import logging

from app.logs import JsonFormatter, request_id_var, trace_id_var


def record(msg: str, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("app", logging.WARNING, __file__, 1, msg, None, None)
    for k, v in extra.items():
        setattr(rec, k, v)
    return rec


def test_standard_fields():
    line = JsonFormatter("svc", "v7").format(record("hello", status=201))
    doc = json.loads(line)
    assert doc["level"] == "warning"
    assert doc["msg"] == "hello"
    assert doc["service"] == "svc"
    assert doc["version"] == "v7"
    assert doc["status"] == 201
    assert doc["ts"].endswith("Z")
    assert "request_id" not in doc
    assert "\n" not in line


def test_request_and_trace_ids_while_handling_a_request():
    rid = request_id_var.set("req-1")
    tid = trace_id_var.set("4bf92f3577b34da6a3ce929d0e0e4736")
    try:
        doc = json.loads(JsonFormatter("svc", "v1").format(record("x")))
    finally:
        request_id_var.reset(rid)
        trace_id_var.reset(tid)
    assert doc["request_id"] == "req-1"
    assert doc["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
