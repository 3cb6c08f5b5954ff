"""A hub worker process starts without loading what it never uses: Alembic is imported where a migration runs
(``shared.db.migrate``: the API's lifespan, the ``migrate`` command), not by every process that opens the database
(~0.15 CPU-s of each worker's start-up, charged to the first run's plan)."""

from __future__ import annotations

import subprocess
import sys


def test_a_worker_process_does_not_import_alembic() -> None:
    code = ("import sys; import services.sync_hub.cli; from services.sync_hub.jobs import worker; "
            "print(sorted(m for m in sys.modules if m == 'alembic' or m.startswith('alembic.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
