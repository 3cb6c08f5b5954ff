"""The hub's clients of the three systems it links, built once per process (API or worker)."""

from __future__ import annotations

from dataclasses import dataclass

from services.sync_hub.config import Settings
from shared.clients import DapodikClient, EmisClient, KemensosClient


@dataclass
class Upstreams:
    kemensos: KemensosClient
    emis: EmisClient
    dapodik: DapodikClient

    def close(self) -> None:
        for client in (self.kemensos, self.emis, self.dapodik):
            client.close()


def make_upstreams(settings: Settings) -> Upstreams:
    return Upstreams(
        kemensos=KemensosClient(settings.kemensos_url, settings.kemensos_token.get_secret_value()),
        emis=EmisClient(settings.emis_url, settings.emis_token.get_secret_value()),
        dapodik=DapodikClient(settings.dapodik_url, settings.dapodik_token.get_secret_value()),
    )
