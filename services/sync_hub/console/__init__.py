"""The operator console at ``/console`` (docs/console.md): runs, outcomes by region, review, provenance, families at
risk and health, server-rendered by the hub itself."""

from services.sync_hub.console.auth import gate
from services.sync_hub.console.router import install

__all__ = ["gate", "install"]
