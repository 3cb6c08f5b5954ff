"""Change feed rules: keyset paging over (updated_at, version), mapping to the feed's models."""

from __future__ import annotations

from sqlmodel import Session

from services.kemensos_mock.changes import repository as repo
from services.kemensos_mock.changes.schemas import ChangeKind, ChangePage, ChangesQuery, RegistryChange
from services.kemensos_mock.registry import repository as registry
from services.kemensos_mock.registry.service import to_keluarga, to_pkh
from shared.cursor import Cursor
from shared.errors import InvalidInput


def list_changes(session: Session, query: ChangesQuery) -> ChangePage:
    after = None
    resume_from = query.cursor
    if query.cursor:
        cursor = Cursor.decode(query.cursor)
        if not (cursor.key.isascii() and cursor.key.isdigit() and len(cursor.key) <= 18):
            raise InvalidInput.field("cursor", "opaque_cursor", "cursor is not one this service issued")
        after = (cursor.at, int(cursor.key))
    seq = registry.observed_seq(session)  # before the rows: they reflect at least this sequence
    refs = repo.page(session, after, query.limit + 1)
    more = len(refs) > query.limit
    refs = refs[: query.limit]
    families = repo.families_by_id(session, [r.id for r in refs if r.kind == ChangeKind.KELUARGA])
    pkhs = repo.pkh_by_id(session, [r.id for r in refs if r.kind == ChangeKind.PKH])
    latest = registry.latest_pkh(session, {f.no_kk for f in families.values()})
    past = repo.past_kks(session, families.keys())
    items: list[RegistryChange] = []
    for ref in refs:
        if ref.kind == ChangeKind.KELUARGA:
            fam = families[ref.id]
            items.append(RegistryChange(kind=ChangeKind.KELUARGA, no_kk=fam.no_kk, version=fam.version,
                                        updated_at=fam.updated_at, keluarga=to_keluarga(fam, latest.get(fam.no_kk)),
                                        no_kk_lama=past.get(ref.id, [])))
        else:
            pkh = pkhs[ref.id]
            items.append(RegistryChange(kind=ChangeKind.PKH, no_kk=pkh.no_kk, version=pkh.version,
                                        updated_at=pkh.updated_at, pkh=to_pkh(pkh)))
    if refs:  # after the last change of this page; else where the reader already was
        resume_from = Cursor(refs[-1].updated_at, str(refs[-1].version)).encode()
    return ChangePage(items=items, next_cursor=resume_from, has_more=more, observed_seq=seq)
