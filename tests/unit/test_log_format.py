"""Log lines: JSON with the event, its context and the HTTP request id; text at a terminal."""

from __future__ import annotations

import json
import logging

from shared.logs import ArqJobLines, JsonFormatter, TextFormatter, request_id_var


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord("certkeeper.test", logging.INFO, __file__, 1, "request.created",
                               (), None)
    record.__dict__.update(extra)
    return record


def test_json_lines_carry_the_event_its_fields_and_the_http_request_id() -> None:
    token = request_id_var.set("trace-42")
    try:
        line = JsonFormatter().format(_record(request_id="r1"))
    finally:
        request_id_var.reset(token)
    body = json.loads(line)
    assert body["event"] == "request.created" and body["level"] == "INFO"
    assert body["request_id"] == "r1" and body["http_request_id"] == "trace-42"
    assert body["time"].endswith("+00:00")


def test_outside_a_request_there_is_no_http_request_id() -> None:
    assert "http_request_id" not in json.loads(JsonFormatter().format(_record()))


def test_text_lines_read_as_time_level_event_fields() -> None:
    line = TextFormatter().format(_record(request_id="r1"))
    assert " INFO    request.created request_id=r1" in line
    assert "\n" not in line


def test_arq_per_job_lines_are_dropped_and_its_start_kept() -> None:
    keep = ArqJobLines()

    def arq(level: int, msg: str) -> logging.LogRecord:
        return logging.LogRecord("arq.worker", level, __file__, 1, msg, None, None)

    assert not keep.filter(arq(logging.INFO, "%6.2fs → %s(%s)%s"))
    assert not keep.filter(arq(logging.INFO, "%6.2fs ← %s ● %s"))
    assert keep.filter(arq(logging.INFO, "Starting worker for %d functions: %s"))
    assert keep.filter(arq(logging.ERROR, "%6.2fs ! %s failed"))
