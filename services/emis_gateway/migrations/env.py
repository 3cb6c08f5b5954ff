"""Alembic environment of the EMIS gateway: the metadata of every table of this service."""

from services.emis_gateway.tables import EmisTable
from shared.db import run_migrations_env

run_migrations_env(EmisTable.metadata)
