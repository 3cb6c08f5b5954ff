"""Alembic environment of kemensos_mock: every table module is imported so the metadata is complete."""

from services.kemensos_mock.education import models as _education  # noqa: F401
from services.kemensos_mock.kip import models as _kip  # noqa: F401
from services.kemensos_mock.registry import models as _registry  # noqa: F401
from services.kemensos_mock.storage import metadata
from shared.db import run_migrations_env

run_migrations_env(metadata)
