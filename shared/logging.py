"""Logging set-up: JSON lines (default) or text, with personal data masked (UU PDP: never log them in full).

Every JSON line carries ``time``, ``level``, ``service``, ``logger``, ``message``, the ``request_id`` of the
request being served and the ``trace_id`` / ``span_id`` of the current span (``shared.observability``), so one
"Request Data PKH" can be followed across the gateway and the hub by either id.

Masking, in three layers (code masks first, with ``shared.nik.mask``; these are the safety nets):
* every run of exactly 16 digits (NIK, KK number) in the whole line, extras included: ``PPKKCC******SSSS``;
* extra fields named like a person's name (``nama``, ``nama_ibu``, ``name``...): ``B*** S***``;
* lines at WARNING and above (and exception text), where free text from elsewhere lands: lokal-id's
  ``SamaranFilter`` (names, phone numbers, other identifiers). It costs ~2 ms a line, so it is not run on the
  INFO lines of every request, which carry route templates and counts only.
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from lokal.samaran.logging import SamaranFilter
from pythonjsonlogger.json import JsonFormatter

from shared.observability import context, tracing

_SIXTEEN = re.compile(r"(?<!\d)(\d{6})(\d{6})(\d{4})(?!\d)")


def mask_text(text: str) -> str:
    """Replace each run of exactly 16 digits with ``PPKKCC******SSSS``."""
    return _SIXTEEN.sub(lambda m: f"{m.group(1)}******{m.group(3)}", text)


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


class _MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_text(super().format(record))


NAME_FIELDS = frozenset({"nama", "name", "nama_ibu", "nama_ayah", "nama_ibu_kandung", "nama_lengkap", "nama_siswa",
                         "nama_peserta_didik", "nama_kepala_keluarga", "full_name"})


def mask_name(value: object) -> str:
    """``Budi Santoso`` -> ``B*** S***``: the initials only."""
    return " ".join(f"{word[0]}***" for word in str(value).split() if word)


class WarningsFilter(SamaranFilter):
    """lokal-id's masking (names, phones, other identifiers) on WARNING and above only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        return super().filter(record)


class JsonLines(JsonFormatter):
    """One JSON object per line with the service, request and trace ids; masked as the module says."""

    def __init__(self, service: str) -> None:
        super().__init__("%(message)s", json_ensure_ascii=False)
        self.service = service

    def add_fields(self, log_record: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        log_record["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        log_record["level"] = record.levelname
        log_record["service"] = self.service
        log_record["logger"] = record.name
        super().add_fields(log_record, record, message_dict)
        rid = context.current()
        if rid:
            log_record["request_id"] = rid
        trace_id, span_id = tracing.current_ids()
        if trace_id:
            log_record["trace_id"], log_record["span_id"] = trace_id, span_id
        for key in NAME_FIELDS.intersection(log_record):
            log_record[key] = mask_name(log_record[key])

    def format(self, record: logging.LogRecord) -> str:
        return mask_text(super().format(record))


def configure(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Configure the root logger once per process; uvicorn's loggers go through it too. ``fmt``: ``json``
    (JSON lines, the default) or ``text``."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonLines(service))
    else:
        handler.setFormatter(_MaskingFormatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s"))
    handler.addFilter(MaskingFilter())
    handler.addFilter(WarningsFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    # jembatan.access (shared.observability) logs each request with its route template, request and trace ids;
    # uvicorn's own access line (raw path, no ids) would only double it
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
