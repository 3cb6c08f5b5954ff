"""Typed clients: the only way one Jembatan service talks to another."""

from shared.clients.dapodik import DapodikClient
from shared.clients.emis import EmisClient
from shared.clients.hub import HubClient
from shared.clients.kemensos import KemensosClient

__all__ = ["DapodikClient", "EmisClient", "HubClient", "KemensosClient"]
