"""No route of any service takes a NIK or a KK number in its path or query string (issue "Trust", part 4).

A URL ends up in access logs, proxy logs, browser histories and error reports; a NIK or KK number travels in
a JSON body instead (``POST .../search``). The check walks each app's own OpenAPI document, so a new route is
covered without anyone listing it.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import APIRouter, Body, FastAPI

from services.dapodik_gateway.config import Settings as DapodikSettings
from services.dapodik_gateway.main import create_app as dapodik_app
from services.emis_gateway.config import Settings as EmisSettings
from services.emis_gateway.main import create_app as emis_app
from services.kemensos_mock.config import Settings as KemensosSettings
from services.kemensos_mock.main import create_app as kemensos_app
from services.sync_hub.config import Settings as HubSettings
from services.sync_hub.main import create_app as hub_app

# nik, nik_ibu, niks, nik_anak, no_kk, no_kk_lama, kk, kk_ibu, and the like
PERSONAL_ID = re.compile(r"^(nik|niks|nik_\w+|\w+_nik|no_kk|no_kk_\w+|kk|kk_\w+)$", re.IGNORECASE)


def personal_id_parameters(spec: dict[str, Any]) -> list[str]:
    """``METHOD path in:name`` of every path or query parameter named like a NIK or KK number."""
    out = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if not isinstance(op, dict):
                continue
            for p in op.get("parameters", []):
                if p.get("in") in ("path", "query") and PERSONAL_ID.match(p["name"]):
                    out.append(f"{method.upper()} {path} {p['in']}:{p['name']}")
    return out


def apps() -> dict[str, FastAPI]:
    return {"kemensos_mock": kemensos_app(KemensosSettings(database_url="sqlite://")),
            "emis_gateway": emis_app(EmisSettings(database_url="sqlite://")),
            "dapodik_gateway": dapodik_app(DapodikSettings(database_url="sqlite://")),
            "sync_hub": hub_app(HubSettings(database_url="sqlite://"))}


@pytest.mark.parametrize(("name", "app"), list(apps().items()), ids=list(apps()))
def test_no_route_takes_a_nik_or_kk_in_its_url(name: str, app: FastAPI) -> None:
    spec = app.openapi()
    assert sum(1 for ops in spec["paths"].values() for _ in ops) > 5  # the document was read
    assert personal_id_parameters(spec) == [], f"{name}: move these into a JSON body"


def test_the_check_finds_a_nik_or_kk_in_a_path_or_query() -> None:
    """The check itself: a NIK in a path, a KK number in a query string are found; one in a body is not."""
    app = FastAPI()
    router = APIRouter()

    @router.get("/api/v1/anggota/{nik}")
    def by_path(nik: str) -> None: ...

    @router.get("/api/v1/keluarga")
    def by_query(no_kk: str, nik_ibu: str | None = None, limit: int = 10) -> None: ...

    @router.post("/api/v1/anggota/search")
    def by_body(nik: str = Body(..., embed=True)) -> None: ...

    app.include_router(router)
    assert personal_id_parameters(app.openapi()) == [
        "GET /api/v1/anggota/{nik} path:nik", "GET /api/v1/keluarga query:no_kk",
        "GET /api/v1/keluarga query:nik_ibu"]
