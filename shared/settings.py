"""Settings common to every service. Each service subclasses ``ServiceSettings`` with its own env prefix
(``KEMENSOS_``, ``EMIS_``, ``DAPODIK_``, ``HUB_``) in its ``config.py``; nothing else reads the environment."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "token", "password", ""}


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", env_nested_delimiter="__")

    database_url: str = "sqlite:///./data/service.db"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    # JSON lines with service, request and trace ids (docs/operations.md), or the plain text of before
    log_format: Literal["json", "text"] = "json"
    # metrics (/metrics) and traces (OpenTelemetry; exported only when OTEL_* says where): off only to measure
    # their cost (bench/) or where nobody scrapes
    telemetry: bool = True
    # uvicorn worker processes serving the API (`serve`): each is the whole app (lifespan, background
    # threads); 1 keeps one process. The bench of "Request Data PKH" (docs/benchmarks.md) uses 2 on 2 cores.
    workers: int = Field(1, ge=1, le=32)
    # Bearer credentials accepted by this service: client name -> token. JSON in the environment,
    # e.g. KEMENSOS_API_TOKENS='{"sync_hub": "..."}'. Empty means every authenticated call gets 401.
    api_tokens: dict[str, SecretStr] = Field(default_factory=dict)

    @field_validator("api_tokens")
    @classmethod
    def _no_placeholders(cls, tokens: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for client, token in tokens.items():
            value = token.get_secret_value()
            if value.lower() in PLACEHOLDER_SECRETS or len(value) < 16:
                raise ValueError(f"token for client {client!r} is a placeholder or shorter than 16 characters")
        return tokens


def serve_app(module: str, settings: ServiceSettings, **kwargs: object) -> None:
    """``uvicorn.run`` of ``<module>:create_app``: the app built here with ``settings`` for one worker, or by
    each of ``settings.workers`` processes (which read the same environment) when more than one, under uvicorn's
    supervisor (restarts a worker that dies), each process listening on a socket of its own."""
    import importlib

    import uvicorn

    from shared import heap
    from shared.http_server import KEEP_ALIVE_SECONDS, NoDelayHTTPProtocol
    from shared.observability.metrics import prepare_multiprocess

    heap.settle_on_start()  # once started (its lifespan done), in each worker process too: shared.heap
    kwargs.setdefault("http", NoDelayHTTPProtocol)  # no 40 ms wait for a delayed ACK per response (workers > 1)
    kwargs.setdefault("timeout_keep_alive", KEEP_ALIVE_SECONDS)  # longer than a client reuses an idle connection
    if settings.workers > 1:
        from uvicorn.supervisors import Multiprocess

        from shared.http_server import bind_reuse_port

        prepare_multiprocess(settings.workers)
        # what ``uvicorn.run`` does for several workers, but each worker listens on a socket of its own
        # (``SO_REUSEPORT``: the kernel spreads new connections over the workers; ``http_server.PerProcessListener``)
        config = uvicorn.Config(f"{module}:create_app", factory=True, workers=settings.workers, host=settings.host,
                                port=settings.port, log_config=None, **kwargs)  # type: ignore[arg-type]
        Multiprocess(config, sockets=[bind_reuse_port(settings.host, settings.port)]).run()
        return
    app = importlib.import_module(module).create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, **kwargs)  # type: ignore[arg-type]
