"""How the hub's work runs: a run is planned into work units, each unit is one job on a queue.

* ``tasks``   — the job functions (plan a run, work one unit), the same whatever executes them.
* ``queue``   — where jobs go: procrastinate on PostgreSQL (durable, any number of worker processes on any
  machine reaching the database; jobs enqueued in the same transaction as the rows that ask for them), or,
  on the embedded SQLite default, a thread pool inside the hub's own process.
* ``worker``  — ``python -m services.sync_hub worker``: a procrastinate worker process, which also hands the
  jobs of workers that stopped sending heartbeats (killed, machine lost) back to the queue.
* ``schema``  — the queue's tables, created by the hub's Alembic migrations on PostgreSQL.

See docs/architecture.md for the picture.
"""
