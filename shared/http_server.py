"""How the services are served: uvicorn's HTTP protocol with Nagle's algorithm off on every connection, and an idle
connection kept open longer than any of our clients keeps one. uvicorn picks its C parts, which are dependencies:
httptools' HTTP parser (``AutoHTTPProtocol``) and uvloop's event loop, ~15 % less CPU per request than h11 and
asyncio's own loop (docs/benchmarks.md, "Session 22"). uvloop turns Nagle's algorithm off itself; the protocol below
still does, for asyncio's loop, which uvicorn falls back to where uvloop cannot be installed.

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


class PerProcessListener(socket.socket):
    """The listening socket of a service run as several uvicorn processes: each process gets one of its own, bound to
    the same address with ``SO_REUSEPORT``, and the kernel spreads new connections over them by a hash of their
    addresses.

    uvicorn binds one socket in its supervisor and hands it to every worker process; they all accept from it, and a
    burst of connections (a proxy or a load generator opening its keep-alive pool) lands on whichever process wakes
    first while the other sits idle. Measured with 10 operators on 2 processes: a third of the runs had all 10
    connections on one process, their presses in batches of 5 with the cores ~60 % busy (docs/benchmarks.md,
    "Session 16"). The supervisor's own socket is bound and never listens (it holds the port); pickled for a worker
    process (``spawn``), it is rebuilt there as a new socket bound with ``SO_REUSEPORT``, which the worker's server
    listens on. Nginx's ``listen ... reuseport`` does the same.
    """

    address: tuple[str, int]

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return bind_reuse_port, self.address


def bind_reuse_port(host: str, port: int) -> PerProcessListener:
    """A TCP socket bound to ``(host, port)`` with ``SO_REUSEADDR`` and ``SO_REUSEPORT``, not yet listening."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = PerProcessListener(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.address = (host, sock.getsockname()[1])
    sock.set_inheritable(True)
    return sock
