"""A long-running process's cyclic garbage collector, settled once its start-up is done.

Why: CPython's collector runs a young collection every 700 net allocations of container objects and, every 100 of
those, a full one over every object the process holds, unless fewer than a quarter of them are new. A service
holds ~200,000-300,000 objects once its modules, models, routes and schemas are built, and what it does per request
or per page allocates containers by the thousand (a feed page parsed into its models: tens of thousands); the
objects that live a little (the pages read ahead while one is stored) are promoted, and so every few pages a full
collection walks the whole start-up heap again. Measured on a first sync's plan replayed in one process (the hub's
worker and its replica follower on the same pages, ``docs/benchmarks.md``, h-plan7): 30-40 % of its CPU in the
collector, most of it in full collections over objects that never die.

``settle`` (once, after start-up): collects once, then moves every object left into the permanent generation
(``gc.freeze``: never walked again; they are still freed when no longer referenced, only a reference cycle among
them would stay), and raises the first threshold so that young collections, and with them the full ones, come
less often. Nothing a process computes changes; only when unreachable cycles are found.

The gateways' lifespans freeze their start-up heap themselves (since h-gwapply); here the hub's processes (API and
workers) and kemensos are frozen too, and every served process gets the higher threshold.

Entry points that start a long-running process (``shared.settings.serve_app``, the hub's worker) ask for it with
``settle_on_start``; a service settles at the end of its start-up (``after_start``, in ``shared.app``'s lifespan),
in each of its uvicorn worker processes (the request goes through the environment, which they inherit). Test
processes, which build the apps without those entry points, keep Python's collector as it is.
``JEMBATAN_SETTLE_HEAP=0`` leaves it as it is everywhere.
"""

from __future__ import annotations

import gc
import os

ENV = "JEMBATAN_SETTLE_HEAP"
# young collections every 10,000 net container allocations instead of 700 (CPython 3.13 makes it 2,000); the
# older generations' thresholds stay as they are
THRESHOLD = (10_000, 10, 10)


def settle(threshold: tuple[int, int, int] = THRESHOLD) -> None:
    """Collect once, freeze what is left (start-up's objects) and set the collector's thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*threshold)


def settle_on_start() -> None:
    """This process (and the processes it starts) settles once started, unless ``JEMBATAN_SETTLE_HEAP`` says 0."""
    os.environ.setdefault(ENV, "1")


def after_start() -> bool:
    """``settle`` when this process was asked to (``settle_on_start``, here or in the process that started it);
    returns whether it did."""
    if os.environ.get(ENV) != "1":
        return False
    settle()
    return True
