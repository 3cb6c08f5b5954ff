"""Which programme rows a record's fields call for (pure)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.contracts.dapodik import JenisKesejahteraan as J

# The record fields each programme is derived from (the first one decides where the row's data came from).
SOURCES: dict[J, tuple[str, ...]] = {
    J.PIP: ("no_kip", "penerima_kip", "nm_kip"),
    J.PKH: ("penerima_kps",),
    J.KPS: ("no_kps", "penerima_kps"),
    J.KKS: ("no_kks",),
}
FIELDS = tuple(sorted({f for fields in SOURCES.values() for f in fields}))
_NAMESPACE = uuid.UUID("6f0b8c1e-5d1a-4d59-9b1e-0a2d4c6e8f10")


@dataclass(frozen=True, slots=True)
class Programme:
    jenis: J
    nomor: str | None
    nm_di_kartu: str | None


def row_id(peserta_didik_id: str, jenis: int) -> str:
    """One row per (student, programme), with an id that is the same wherever it is derived: the UUID
    version 5 of "<student>/<programme>" (``uuid.uuid5``, computed without building UUID objects)."""
    raw = bytearray(hashlib.sha1(_NAMESPACE.bytes + f"{peserta_didik_id}/{jenis}".encode()).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def derive(rec: Mapping[str, Any]) -> dict[J, Programme]:
    """The programmes the record shows as active now.

    * PIP (11): ``penerima_kip`` — the KIP card is PIP's; ``no_kip``, ``nm_kip`` on the card;
    * PKH (12): ``penerima_kps`` — the hub writes the family's PKH status there;
    * KPS (13): ``penerima_kps`` with a ``no_kps`` (the card number; the KIP number replaces it);
    * KKS (14): a ``no_kks``;
    * KIS (15): no field of the record says it, so never derived."""
    out: dict[J, Programme] = {}
    if rec.get("penerima_kip"):
        out[J.PIP] = Programme(J.PIP, rec.get("no_kip"), rec.get("nm_kip"))
    if rec.get("penerima_kps"):
        out[J.PKH] = Programme(J.PKH, None, None)
        if rec.get("no_kps"):
            out[J.KPS] = Programme(J.KPS, rec["no_kps"], None)
    if rec.get("no_kks"):
        out[J.KKS] = Programme(J.KKS, rec["no_kks"], None)
    return out
