"""Small shared pieces: log masking, cursors, settings that refuse placeholder secrets, the error envelope."""

from __future__ import annotations

import logging
import warnings
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ValidationError

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from shared.cursor import Cursor
from shared.errors import InvalidInput, install_error_handlers
from shared.logging import MaskingFilter, mask_text
from shared.settings import ServiceSettings


def test_mask_text_masks_every_16_digit_run_and_nothing_else() -> None:
    assert mask_text("nik 3201014505100001 kk 3201010101200002.") == "nik 320101******0001 kk 320101******0002."
    assert mask_text("serial 12345678901234567 phone 081234567890") == "serial 12345678901234567 phone 081234567890"


def test_masking_filter_rewrites_records(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.mask")
    logger.addFilter(MaskingFilter())
    with caplog.at_level(logging.INFO, logger="test.mask"):
        logger.info("looked up %s", "3201014505100001")
    assert "3201014505100001" not in caplog.text and "320101******0001" in caplog.text


def test_cursor_round_trips_and_rejects_forgeries() -> None:
    c = Cursor(datetime(2026, 7, 1, tzinfo=UTC), "abc")
    assert Cursor.decode(c.encode()) == c
    for bad in ("%%%", "bm90IGpzb24", "WzFd"):
        with pytest.raises(InvalidInput) as exc:
            Cursor.decode(bad)
        assert exc.value.errors[0].field == "cursor" and exc.value.errors[0].rule == "opaque_cursor"


@pytest.mark.parametrize("token", ["changeme", "secret", "short"])
def test_settings_refuse_placeholder_tokens(token: str) -> None:
    with pytest.raises(ValidationError):
        ServiceSettings(api_tokens={"hub": token})
    assert ServiceSettings(api_tokens={"hub": "a-real-token-of-24-chars"}).api_tokens["hub"].get_secret_value()


class Body(BaseModel):
    n: int


def test_error_envelope_names_field_and_rule() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/x")
    def x(body: Body) -> dict[str, int]:
        if body.n < 0:
            raise InvalidInput.field("n", "non_negative", "n must be >= 0")
        return {"n": body.n}

    with TestClient(app) as tc:
        r = tc.post("/x", json={"n": "abc"})
        assert r.status_code == 422
        assert r.json()["error"] == "InvalidInput" and r.json()["errors"][0]["field"] == "n"
        assert r.json()["errors"][0]["rule"] == "int_parsing"
        r = tc.post("/x", json={"n": -1})
        assert r.status_code == 422 and r.json()["errors"] == [
            {"field": "n", "rule": "non_negative", "message": "n must be >= 0"}]
        r = tc.get("/nope")
        assert r.status_code == 404 and r.json()["error"] == "NotFound"
