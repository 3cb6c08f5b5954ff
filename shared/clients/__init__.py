"""Typed clients: the only way one Jembatan service talks to another.

Not the external SDK (``clients/python``, ``jembatan_client``) on purpose: these validate answers against the
services' own strict contracts (``shared.contracts``) rather than the SDK's lenient models, raise the
``shared.http`` errors the services branch on (``Rejected`` / ``Unavailable`` / ``ContractError``, messages
scrubbed of NIKs), carry the request's ``traceparent`` and ``X-Request-ID`` (``outbound_headers``), and include
the registry stand-in, which the SDK leaves out. Both are called against the real apps by tests."""

from shared.clients.dapodik import DapodikClient
from shared.clients.emis import EmisClient
from shared.clients.hub import HubClient
from shared.clients.kemensos import KemensosClient

__all__ = ["DapodikClient", "EmisClient", "HubClient", "KemensosClient"]
