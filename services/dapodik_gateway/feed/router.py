"""``GET /api/v1/hub/peserta-didik[/{id}]``: parse and delegate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic_core import to_json

from services.dapodik_gateway import paging
from services.dapodik_gateway.access import Role, require_roles
from services.dapodik_gateway.deps import PrincipalDep, SessionDep, WriteSessionDep, authenticate, only_query_params
from services.dapodik_gateway.feed import service
from shared.contracts.common import FeedEnd, FeedRead, FeedReadAnswer
from shared.contracts.dapodik import PesertaDidik, PesertaDidikFeed
from shared.errors import ERROR_RESPONSES, ErrorBody

router = APIRouter(prefix="/api/v1/hub", tags=["hub"],
                   dependencies=[Depends(authenticate), require_roles(Role.HUB, Role.OPERATOR)])
_NOT_FOUND = {404: {"model": ErrorBody, "description": "No such student (rule `not_found`), or not validated yet "
                    "(rule `not_validated`)"}, **ERROR_RESPONSES}


@router.get("/peserta-didik", response_model=PesertaDidikFeed, responses=_NOT_FOUND,
            summary="The hub's change feed: every validated student in the order it last changed, held-back "
                    "records (an INVALID finding) included with their findings (`temuan_validasi`); `since` = a "
                    "previous `resume_cursor` reads only what changed since; the hub's reads move each school's "
                    "read position",
            dependencies=[only_query_params("cursor", "since", "limit", "npsn", "removed", "id_after", "id_upto")])
def hub_feed(
    session: WriteSessionDep,
    principal: PrincipalDep,
    cursor: paging.CursorParam = None,
    since: Annotated[str | None, Query(max_length=200, description="Opaque; a `resume_cursor` of an earlier read")
                     ] = None,
    limit: paging.LimitParam = paging.DEFAULT_LIMIT,
    npsn: Annotated[str | None, Query(pattern=paging.NPSN_PATTERN, description="Only this school")] = None,
    removed: Annotated[bool, Query(description="Also list, in `removed`, the records of the page's range that are "
                                               "not validated yet or deleted (tombstones for a reader keeping a "
                                               "copy)")
                       ] = False,
    id_after: Annotated[str | None, Query(pattern=paging.UUID_PATTERN, description="Only records whose "
                                          "`peserta_didik_id` is above this: a range of the feed, paged in id "
                                          "order (the hub reads a whole feed as ranges at once; not with `since` "
                                          "or `removed`)")] = None,
    id_upto: Annotated[str | None, Query(pattern=paging.UUID_PATTERN, description="Only records whose "
                                         "`peserta_didik_id` is up to this (the end of a range)")] = None,
) -> Response:
    """The sync hub's change feed (the hub's credential only): every validated student in the order it last changed;
    held-back records (an INVALID finding) are included with their findings (`temuan_validasi`). Pass a previous
    `resume_cursor` as `since` to read only what changed since; the hub's reads move each school's read position.
    """
    hub = principal.client if principal.role is Role.HUB else None
    # served from plain data (``service.feed_data``): byte for byte the page's model JSON, without a read model
    # built and validated per student
    return Response(content=to_json(service.feed_data(session, cursor, limit, npsn, since=since, delivered_to=hub,
                                                      removed=removed, id_after=id_after, id_upto=id_upto)),
                    media_type="application/json")


@router.get("/feed-end", response_model=FeedEnd, responses=ERROR_RESPONSES,
            summary="Where the hub's change feed ends now and how many students it holds: a reader of the whole feed "
                    "as id ranges at once resumes from here",
            dependencies=[only_query_params()])
def feed_end(session: SessionDep) -> FeedEnd:
    """Where the change feed ends now (`resume_cursor`: after every record, in the feed or left out of it) and how
    many students it holds. The hub reads a whole feed as ranges of `peserta_didik_id` at once (`id_after`,
    `id_upto`), then reads on `since` this position: what changed meanwhile is after it.
    """
    return service.end(session)


@router.post("/feed-read", response_model=FeedReadAnswer, responses=ERROR_RESPONSES,
             summary="The hub says it holds the whole feed up to a `feed-end` position (it read the feed as id "
                     "ranges, whose pages move no school's read position): each school's read position moves up to "
                     "its last record at or before it",
             dependencies=[require_roles(Role.HUB), only_query_params()])
def feed_read(body: FeedRead, session: WriteSessionDep, principal: PrincipalDep) -> FeedReadAnswer:
    """The hub read the whole feed as ranges of `peserta_didik_id` (`id_after`, `id_upto`), whose pages do not move
    the schools' read positions (they are not in change order). Once it holds every range it sends the `resume_cursor`
    that `GET /api/v1/hub/feed-end` gave before the ranges: each school's read position moves up to its last record
    at or before it, so the sync screen counts as waiting only what changed since. Idempotent: a position never
    moves back.
    """
    return FeedReadAnswer(positions_moved=service.read_whole(session, body.resume_cursor, principal.client))


@router.get("/peserta-didik/{peserta_didik_id}", response_model=PesertaDidik, responses=_NOT_FOUND,
            summary="One student of the feed, held back or not, with its validation findings (404 "
                    "`not_validated` until it is validated)",
            dependencies=[only_query_params()])
def hub_one(session: SessionDep, peserta_didik_id: Annotated[str, Path(pattern=paging.UUID_PATTERN)]
            ) -> PesertaDidik:
    """One student of the feed, held back or not, with its validation findings; 404 `not_validated` until the record
    has been validated.
    """
    return service.one(session, peserta_didik_id)
