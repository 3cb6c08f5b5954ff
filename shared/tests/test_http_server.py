"""The services' HTTP protocol turns Nagle's algorithm off on connections accepted from a socket uvicorn bound
itself (``workers > 1``), where asyncio does not: a response's body then does not wait for a delayed ACK."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
import uvicorn

from shared.http_server import NoDelayHTTPProtocol


async def _app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _nodelay_of_served_connections(http: object, loop: str = "asyncio") -> list[int]:
    config = uvicorn.Config(_app, host="127.0.0.1", port=0, http=http, loop=loop, log_level="warning",  # type: ignore[arg-type]
                            lifespan="off")
    sock = config.bind_socket()  # as uvicorn binds it for several workers: proto 0
    assert sock.proto == 0
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        port = sock.getsockname()[1]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:  # keep-alive: the connection stays open
            assert client.get("/").text == "ok"
            return [conn.transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                    for conn in server.server_state.connections]
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_connections_accepted_from_uvicorns_own_socket_have_nagle_off(loop: str) -> None:
    flags = _nodelay_of_served_connections(NoDelayHTTPProtocol, loop)
    assert flags and all(flags)


def test_without_it_asyncios_loop_leaves_nagle_on_for_such_a_socket() -> None:
    """Why the protocol exists: the services run on uvloop (a dependency), which turns Nagle off itself, but where it
    cannot be installed uvicorn falls back to asyncio's loop, which does not (if asyncio ever does, this tells that
    the protocol is no longer needed)."""
    flags = _nodelay_of_served_connections("h11", "asyncio")
    assert flags and not any(flags)


def test_the_services_hold_an_idle_connection_longer_than_our_clients_reuse_one(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """uvicorn's default (5 s) equals httpx's reuse of an idle connection (5 s): a request sent as the server closes
    the connection fails without an answer, and a check (a POST, not retried) was a 503 for the operator."""
    from services.kemensos_mock import cli as kemensos_cli
    from shared.http import BaseClient
    from shared.http_server import KEEP_ALIVE_SECONDS
    from shared.settings import ServiceSettings, serve_app

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append(kw))
    serve_app("services.emis_gateway.main", ServiceSettings())
    kemensos_cli.serve()
    client = BaseClient("http://127.0.0.1:1", "t" * 16)
    try:
        expiry = client._http._transport._pool._keepalive_expiry  # type: ignore[attr-defined]
    finally:
        client.close()
    assert len(calls) == 2 and all(kw["timeout_keep_alive"] == KEEP_ALIVE_SECONDS for kw in calls)
    assert expiry + 5 < KEEP_ALIVE_SECONDS
