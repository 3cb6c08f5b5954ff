"""Personal data never reaches the service's log unmasked (checked before the masking formatter)."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from fastapi.testclient import TestClient

from services.kemensos_mock.tests.world import KK1, STRANGER1, World, tiny_world
from services.kemensos_mock.world.service import LoadFailed, load_world


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith("httpx"):  # the test client's own request log
            self.messages.append(record.getMessage())


def test_no_nik_kk_or_name_in_the_log(client: TestClient, admin: TestClient, world: World, tmp_path: Path) -> None:
    handler = Collect()  # attached after the app started (its lifespan reconfigures the root logger)
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        niks = [m["nik"] for m in world.anggota_keluarga]
        assert client.post("/api/v1/nik/lookup", json={"niks": [*niks, STRANGER1]}).status_code == 200
        assert client.post("/api/v1/keluarga/search", json={"no_kk": KK1}).status_code == 200
        edit = {"no_kk": KK1, "change": {"no_kk": "3201010909260009"}}
        assert admin.patch("/api/v1/admin/keluarga", json=edit).status_code == 200
        assert admin.put("/api/v1/admin/pkh", json={"no_kk": "3201010909260009", "status": "AKTIF",
                                                    "komponen": [], "tahun": 2026, "tahap": 4}).status_code == 200
        broken = tiny_world()
        broken.anggota_keluarga[0]["nik"] = broken.anggota_keluarga[0]["nik"][:15] + "?"
        with contextlib.suppress(LoadFailed):
            load_world(client.app.state.engine, broken.write(tmp_path / "w"))  # type: ignore[attr-defined]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    text = "\n".join(handler.messages)
    assert "nik lookup" in text and "now has KK" in text  # the service did log these events
    secrets = [*niks, STRANGER1, *(k["no_kk"] for k in world.keluarga), "3201010909260009",
               *(m["nama"] for m in world.anggota_keluarga)]
    leaked = [s for s in secrets if s in text]
    assert leaked == []
