"""Logging set-up with a filter that masks every NIK/KK-shaped number (UU PDP: never log them in full)."""

from __future__ import annotations

import logging
import re
import sys

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


def configure(service: str, level: str = "INFO") -> None:
    """Configure the root logger once per process; uvicorn's loggers go through it too."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_MaskingFormatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s"))
    handler.addFilter(MaskingFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
