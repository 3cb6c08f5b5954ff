"""The four apps in process on a copy of a loaded world: what several in-process tests start (``test_sync_in_process``,
``test_feed_ranges``). One hub at a time in a process: its worker context is the process's (``jobs.queue.bind``)."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette prefers httpx2 at import; the project pins httpx
    from fastapi.testclient import TestClient

from jembatan.stack import Stack
from services.dapodik_gateway.config import Settings as DapodikSettings
from services.dapodik_gateway.main import create_app as dapodik_app
from services.emis_gateway.config import Settings as EmisSettings
from services.emis_gateway.main import create_app as emis_app
from services.kemensos_mock.config import Settings as KemensosSettings
from services.kemensos_mock.main import create_app as kemensos_app
from services.sync_hub.config import Settings as HubSettings
from services.sync_hub.ledger import keys as ledger_keys
from services.sync_hub.main import create_app as hub_app
from services.sync_hub.upstreams import Upstreams
from shared.clients import DapodikClient, EmisClient, HubClient, KemensosClient

BASE = "http://testserver"


@contextmanager
def four_apps(template: Stack, workdir: Path, hub_url: str, **hub: Any
              ) -> Iterator[tuple[HubClient, Upstreams, Stack, dict[str, TestClient]]]:
    """The world ``template`` loaded, copied into ``workdir``; the hub on ``hub_url`` with its in-process worker and
    ``hub`` settings besides. Yields the hub's client (as the operator), the upstream clients, the copy's stack and
    the apps' test clients (registry admin, school operator). A template whose upstreams have databases of their own
    (``Stack.database_urls``: PostgreSQL) is used as it is, not copied."""
    if template.database_urls:
        stack = template
    else:
        shutil.copytree(template.workdir / "db", workdir / "db")  # each test syncs its own copy
        stack = Stack(workdir, creds=template.creds)
    c = stack.creds
    with ExitStack() as ctx:
        def client(app: Any) -> TestClient:
            # as the services' own httpx clients: no redirect followed (an API path names one resource)
            return ctx.enter_context(TestClient(app, base_url=BASE, follow_redirects=False))

        kemensos = client(kemensos_app(KemensosSettings(database_url=stack.database_url("kemensos_mock"),
                                                        api_tokens={"sync_hub": c.hub_to_kemensos},
                                                        admin_token=c.kemensos_admin)))
        emis = client(emis_app(EmisSettings(database_url=stack.database_url("emis_gateway"),
                                            api_tokens={"sync_hub": c.hub_to_emis})))
        dapodik = client(dapodik_app(DapodikSettings(database_url=stack.database_url("dapodik_gateway"),
                                                     api_tokens={"sync_hub": c.hub_to_dapodik,
                                                                 "operator": c.operator})))
        ups = Upstreams(KemensosClient(BASE, c.hub_to_kemensos, http=kemensos),
                        EmisClient(BASE, c.hub_to_emis, http=emis),
                        DapodikClient(BASE, c.hub_to_dapodik, http=dapodik))
        ledger_keys.generate(workdir / "ledger.pem")
        app = client(hub_app(HubSettings(database_url=hub_url, local_key_dir=workdir / "keys",
                                         api_tokens={"emis_gateway": c.emis_to_hub,
                                                     "dapodik_gateway": c.dapodik_to_hub},
                                         in_process_worker=True, ledger_key_file=workdir / "ledger.pem", **hub),
                             upstreams=ups))
        yield (HubClient(BASE, stack.hub_operator, http=app), ups, stack,
               {"kemensos": kemensos, "dapodik": dapodik, "hub": app})
