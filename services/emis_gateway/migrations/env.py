"""Alembic environment of the EMIS gateway: the metadata of every table of this service."""

import services.emis_gateway.madrasah.models
import services.emis_gateway.results.models
import services.emis_gateway.siswa.models  # noqa: F401  (register the tables)
from services.emis_gateway.base import EmisTable
from shared.db import run_migrations_env

run_migrations_env(EmisTable.metadata)
