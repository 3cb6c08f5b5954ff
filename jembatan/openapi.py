"""The four services' OpenAPI specs as published in ``docs/openapi/<service>.json`` (``jembatan openapi``)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from jembatan.stack import SERVICES

DOCS = Path(__file__).resolve().parents[1] / "docs" / "openapi"


def spec(service: str) -> dict[str, Any]:
    """The service's OpenAPI, made by its app factory with default settings (nothing is started)."""
    app = importlib.import_module(f"services.{service}.main").create_app()
    return app.openapi()  # type: ignore[no-any-return]


def render(service: str) -> str:
    return json.dumps(spec(service), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def write(out: Path = DOCS) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for service in SERVICES:
        path = out / f"{service}.json"
        path.write_text(render(service), encoding="utf-8")
        paths.append(path)
    return paths


def stale(out: Path = DOCS) -> list[str]:
    """The services whose published spec differs from what the code makes (missing counts as different)."""
    return [s for s in SERVICES if not (out / f"{s}.json").exists()
            or (out / f"{s}.json").read_text(encoding="utf-8") != render(s)]
