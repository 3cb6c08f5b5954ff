"""Alembic environment of the Dapodik gateway: the tables of every domain, one shared runner."""

from services.dapodik_gateway.db import DapodikTable
from services.dapodik_gateway.kehadiran import models as _kehadiran  # noqa: F401
from services.dapodik_gateway.kesejahteraan import models as _kesejahteraan  # noqa: F401
from services.dapodik_gateway.kip import models as _kip  # noqa: F401
from services.dapodik_gateway.peserta_didik import models as _peserta_didik  # noqa: F401
from services.dapodik_gateway.results import models as _results  # noqa: F401
from services.dapodik_gateway.sekolah import models as _sekolah  # noqa: F401
from services.dapodik_gateway.sinkronisasi import models as _sinkronisasi  # noqa: F401
from services.dapodik_gateway.validasi import models as _validasi  # noqa: F401
from shared.db import run_migrations_env

run_migrations_env(DapodikTable.metadata)
