"""How the services are served: uvicorn's HTTP protocol with Nagle's algorithm off on every connection, and an idle
connection kept open longer than any of our clients keeps one.

With ``workers > 1`` uvicorn binds the listening socket itself as ``socket.socket(AF_INET, SOCK_STREAM)``, whose
``proto`` is 0, and asyncio sets ``TCP_NODELAY`` on an accepted connection only when its ``proto`` is
``IPPROTO_TCP``. Without it a response written as headers, then body (two writes) waits for the client's delayed
ACK before the body goes out: 40 ms on Linux, on every request after a connection's first. Measured on the
services run with 2 workers: ``GET /health`` 44 ms (first byte 1.5 ms), 1.5 ms with one worker; a "Request Data
PKH" press crosses two such hops (docs/benchmarks.md, "Request Data PKH").
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.auto import AutoHTTPProtocol

# An idle keep-alive connection is closed by the server after this many seconds. httpx (every client of ours: the
# gateways' hub client, the hub's upstream clients) reuses an idle connection for up to 5 s; with uvicorn's own
# default, also 5 s, a request sent on a connection just as the server closes it fails with "server disconnected
# without sending a response", and a POST that is not retried (a "Request Data PKH" check) became a 503 for the
# operator. The server must hold the connection longer than the client reuses it.
KEEP_ALIVE_SECONDS = 30


class NoDelayHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
