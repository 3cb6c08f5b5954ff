"""Small changes to a running system, as its users make them: an operator's edit of one student at Dapodik,
and a registry change of one family's PKH membership at Kemensos (admin); and one edit of a generated world
before it is loaded (a planted conflict for clerical review). Used by the end-to-end tests and the benchmark of
incremental sync."""

from __future__ import annotations

import json
from pathlib import Path

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


def plant_parent_conflict(world: Path) -> tuple[str, str, str]:
    """Edit a generated world (before loading): one Dapodik student, otherwise error-free and with its true NIK,
    gets the NIK and name of a woman of another registry family as its mother, so its child NIK and its mother
    NIK point at two families (a case for clerical review). Returns (student id, its true KK, the other KK)."""
    members = [json.loads(x) for x in (world / "kemensos" / "anggota_keluarga.jsonl").read_text().splitlines()]
    truth = {t["student_id"]: t for t in map(json.loads, (world / "ground_truth.jsonl").read_text().splitlines())}
    path = world / "dapodik" / "peserta_didik.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    target = next(r for r in rows if (t := truth[r["peserta_didik_id"]])["in_registry"] and not t["errors"]
                  and r["nik"] == t["true_nik"])
    own_kk = truth[target["peserta_didik_id"]]["true_no_kk"]
    other = next(m for m in members if m["jenis_kelamin"] == "P" and m["no_kk"] != own_kk
                 and m["hubungan_keluarga"] in ("ISTRI", "KEPALA_KELUARGA"))
    target["nik_ibu"], target["nama_ibu_kandung"] = other["nik"], other["nama"]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return target["peserta_didik_id"], own_kk, other["no_kk"]
