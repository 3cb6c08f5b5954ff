"""Small changes to a running system, as its users make them: an operator's edit of one student at Dapodik,
and a registry change of one family's PKH membership at Kemensos (admin). Used by the end-to-end tests and the
benchmark of incremental sync."""

from __future__ import annotations

import httpx

from jembatan.stack import Stack
from shared.clients import EmisClient


def edit_peserta_didik(stack: Stack, peserta_didik_id: str, changes: dict[str, object]) -> dict[str, object]:
    """An operator's edit of one Dapodik record (``PATCH /api/v1/peserta-didik/{id}``); the record as stored."""
    r = httpx.patch(f"{stack.url('dapodik_gateway')}/api/v1/peserta-didik/{peserta_didik_id}", json=changes,
                    headers={"Authorization": f"Bearer {stack.creds.operator}"}, timeout=60)
    r.raise_for_status()
    return r.json()  # type: ignore[no-any-return]


def graduate_family(stack: Stack, no_kk: str) -> int:
    """The family leaves PKH (GRADUASI) in a period after any it has; returns its new version."""
    r = httpx.put(f"{stack.url('kemensos_mock')}/api/v1/admin/pkh",
                  json={"no_kk": no_kk, "status": "GRADUASI", "komponen": [], "tahun": 2099, "tahap": 1},
                  headers={"Authorization": f"Bearer {stack.creds.kemensos_admin}"}, timeout=60)
    r.raise_for_status()
    return int(r.json()["version"])


def pkh_family_of_an_emis_recipient(emis: EmisClient) -> tuple[str, str]:
    """(siswa_id, no_kk) of an EMIS student the hub marked as a PKH recipient, with the family the value came from."""
    for page in emis.iter_changes(limit=1000):
        for s in page.items:
            source = {p.field: p.source_record for p in s.provenance}.get("penerima_pkh", "")
            if s.pkh.penerima_pkh and s.pkh.status_pkh and s.pkh.status_pkh.value == "PKH_RECIPIENT" \
                    and source.startswith("keluarga/"):
                return s.siswa_id, source.removeprefix("keluarga/")
    raise LookupError("no EMIS student is a PKH recipient")
