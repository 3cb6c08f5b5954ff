"""Request dependencies: one transaction per request (committed at the edge), the caller (``access``), uploads."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, params

from services.dapodik_gateway import access
from shared.deps import SessionDep as SessionDep  # re-exported for the routers
from shared.deps import WriteSessionDep as WriteSessionDep
from shared.errors import FieldError, InvalidInput

# Authentication and object-level access live in ``access``; re-exported for the routers.
authenticate = access.authenticate
ClientDep = access.ClientDep
PrincipalDep = access.PrincipalDep


def only_query_params(*names: str) -> params.Depends:
    """Reject query parameters a route does not know (a typo such as ``npns=`` must not list everything).
    Asynchronous: no I/O, so no hop to the thread pool."""
    allowed = frozenset(names)

    async def _check(request: Request) -> None:
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            raise InvalidInput(
                f"unknown query parameter(s): {', '.join(unknown)}",
                [FieldError(field=name, rule="unknown_parameter",
                            message=f"not a parameter of this route; known: {', '.join(sorted(allowed)) or 'none'}")
                 for name in unknown],
            )

    return Depends(_check)


MAX_BODY_BYTES = 20 * 1024 * 1024 + 1


async def raw_body(request: Request) -> bytes:
    """An uploaded file (the request body), read up to just past the largest file accepted: a larger one
    is refused without reading it all."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_BODY_BYTES:
            raise InvalidInput.field("file", "too_large",
                                     f"the file is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB")
    return b"".join(chunks)


BodyDep = Annotated[bytes, Depends(raw_body)]
