"""``GET /api/v1/hub/siswa``: parse and delegate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import Field

from services.emis_gateway.deps import PrincipalDep, SessionDep, require_client
from services.emis_gateway.feed import service
from services.emis_gateway.paging import PageParams
from shared.contracts.common import FeedEnd
from shared.contracts.emis import SiswaFeed

router = APIRouter(prefix="/api/v1/hub", tags=["hub"], dependencies=[Depends(require_client)])


class FeedParams(PageParams):
    since: str | None = Field(None, min_length=1, max_length=512,
                              description="Opaque: a `resume_cursor` of an earlier read; only what changed since")
    id_after: str | None = Field(None, pattern=r"^[0-9a-f-]{36}$", description="Only students whose `siswa_id` is "
                                 "above this: a range of the feed, paged in id order (the hub reads a whole feed as "
                                 "ranges at once; not with `since`)")
    id_upto: str | None = Field(None, pattern=r"^[0-9a-f-]{36}$",
                                description="Only students whose `siswa_id` is up to this (the end of a range)")


@router.get("/siswa", response_model=SiswaFeed,
            summary="The hub's change feed: students in the order they last changed, (updated_at, siswa_id); "
                    "`since` = a previous `resume_cursor` reads only what changed since")
def hub_feed(session: SessionDep, principal: PrincipalDep, params: Annotated[FeedParams, Query()]) -> Response:
    """The sync hub's change feed (the hub's credential only): students in the order they last changed, keyset on
    (updated_at, siswa_id). Pass a previous answer's `resume_cursor` as `since` to read only what changed since.
    """
    page = service.feed(session, params.cursor, params.limit, since=params.since, principal=principal,
                        id_after=params.id_after, id_upto=params.id_upto)
    # serialised once (``response_model`` stays for the schema): returning the model has FastAPI dump it, validate
    # the dump and serialise it again, which for a page of students costs more than reading it
    return Response(content=page.model_dump_json(), media_type="application/json")


@router.get("/feed-end", response_model=FeedEnd,
            summary="Where the hub's change feed ends now and how many students it holds: a reader of the whole feed "
                    "as id ranges at once resumes from here")
def feed_end(session: SessionDep) -> FeedEnd:
    """Where the change feed ends now (`resume_cursor`, held back before any transaction still open, as a page's is)
    and how many students it holds. The hub reads a whole feed as ranges of `siswa_id` at once (`id_after`,
    `id_upto`), then reads on `since` this position: what changed meanwhile is after it.
    """
    return service.end(session)
