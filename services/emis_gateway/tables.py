"""Every table of this service, imported once so that ``EmisTable.metadata`` holds them all (Alembic's
``env.py`` and the migration tests)."""

from services.emis_gateway.base import EmisTable
from services.emis_gateway.kehadiran import models as kehadiran_models
from services.emis_gateway.madrasah import models as madrasah_models
from services.emis_gateway.pkh import models as pkh_models
from services.emis_gateway.results import models as results_models
from services.emis_gateway.sinkron import models as sinkron_models
from services.emis_gateway.siswa import models as siswa_models

__all__ = ["EmisTable", "kehadiran_models", "madrasah_models", "pkh_models", "results_models", "sinkron_models",
           "siswa_models"]
