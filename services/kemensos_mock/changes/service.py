"""Change feed rules: keyset paging over (updated_at, version), mapping to the feed's models."""

from __future__ import annotations

from typing import Any

from pydantic_core import to_json
from sqlmodel import Session

from services.kemensos_mock.changes import repository as repo
from services.kemensos_mock.changes.schemas import ChangesQuery
from services.kemensos_mock.faults.service import FaultInjector, FeedFault
from services.kemensos_mock.registry import repository as registry
from services.kemensos_mock.registry.service import anggota_data, keluarga_data, pkh_data
from shared.contracts.kemensos import ChangeKind, ChangePage
from shared.cursor import Cursor
from shared.errors import InvalidInput


def decode(token: str) -> tuple[Cursor, int]:
    cursor = Cursor.decode(token)
    if not (cursor.key.isascii() and cursor.key.isdigit() and len(cursor.key) <= 18):
        raise InvalidInput.field("cursor", "opaque_cursor", "cursor is not one this service issued")
    return cursor, int(cursor.key)


def list_changes(session: Session, query: ChangesQuery) -> ChangePage:
    """One page of the feed, read from one snapshot (the observed sequence, the positions and the states
    all agree). A family's item carries its members and its latest PKH; a PKH item says whether its
    period is the family's latest."""
    return ChangePage.model_validate(page_data(session, query))


def page_data(session: Session, query: ChangesQuery) -> dict[str, Any]:
    """``list_changes``'s page as plain data in the contract's field order (``registry.service``'s ``*_data``):
    ``pydantic_core.to_json`` of it is byte for byte the page's ``model_dump_json()``, without building and
    validating a model per family, member and membership (the router serves a page of 1,000 families so)."""
    after = None
    resume_from = query.cursor
    if query.cursor:
        cursor, key = decode(query.cursor)
        after = (cursor.at, key)
    repo.snapshot(session)
    seq = registry.observed_seq(session)
    refs = repo.page(session, after, query.limit + 1, query.since_version, query.until_version)
    more = len(refs) > query.limit
    refs = refs[: query.limit]
    families = repo.families_by_id(session, [r.id for r in refs if r.kind == repo.KELUARGA])
    pkhs = repo.pkh_by_id(session, [r.id for r in refs if r.kind == repo.PKH])
    removed = repo.removed_by_id(session, [r.id for r in refs if r.kind == repo.DIHAPUS])
    latest = registry.latest_pkh(session, {f.no_kk for f in families.values()} | {p.no_kk for p in pkhs.values()})
    bansos = registry.latest_bansos(session, {f.no_kk for f in families.values()})
    members = repo.members_by_family(session, {f.no_kk for f in families.values()})
    past = repo.past_kks(session, families.keys())
    items: list[dict[str, Any]] = []
    for ref in refs:
        if ref.kind == repo.KELUARGA:
            fam = families[ref.id]
            items.append({"kind": ChangeKind.KELUARGA, "no_kk": fam.no_kk, "version": fam.version,
                          "updated_at": fam.updated_at,
                          "keluarga": keluarga_data(fam, latest.get(fam.no_kk), bansos.get(fam.no_kk, ())),
                          "anggota": [anggota_data(m) for m in members.get(fam.no_kk, [])],
                          "no_kk_lama": past.get(ref.id, [])})
        elif ref.kind == repo.PKH:
            pkh = pkhs[ref.id]
            newest = latest.get(pkh.no_kk)
            items.append({"kind": ChangeKind.PKH, "no_kk": pkh.no_kk, "version": pkh.version,
                          "updated_at": pkh.updated_at, "pkh": pkh_data(pkh),
                          "latest": newest is not None and newest.id == pkh.id})
        else:
            gone = removed[ref.id]
            items.append({"kind": ChangeKind.KELUARGA_DIHAPUS, "no_kk": gone.no_kk, "version": gone.version,
                          "updated_at": gone.updated_at})
    if refs:  # after the last change of this page; else where the reader already was
        resume_from = Cursor(refs[-1].updated_at, str(refs[-1].version)).encode()
    return {"items": items, "next_cursor": resume_from, "has_more": more, "observed_seq": seq}


def serve_changes(session: Session, query: ChangesQuery, faults: FaultInjector, client: str
                  ) -> tuple[bytes, FeedFault]:
    """A feed page for ``client`` (its JSON body) with the feed faults of the fault settings (none while they are
    off): a duplicated page keeps ``next_cursor`` at the asked cursor, a re-delivered one is the page of the
    client's previous request."""
    if not faults.config.feed_active:
        return to_json(page_data(session, query)), FeedFault.NONE
    fault, served = faults.feed(client, query)  # a re-delivery serves the client's previous request, range and all
    page = page_data(session, served)
    if fault is FeedFault.DUPLICATE:
        page = {**page, "next_cursor": query.cursor, "has_more": True}
    return to_json(page), fault
