"""The background worker that completes PENDING PKH requests: started and stopped by the app's lifespan.

It looks for due requests (retry time come, nobody holding them) every ``pkh_poll_seconds``, or at once
when a new request is queued, and asks the hub for them one at a time. At start it forgets every lease
(this process is the only asker of its database, so a lease left by a stopped process holds nothing):
requests queued before a restart are picked up again, nothing is lost.
"""

from __future__ import annotations

import logging
import threading

from services.emis_gateway.pkh import repository
from services.emis_gateway.pkh.service import PkhRequests
from shared.db import session_scope

log = logging.getLogger("emis_gateway.pkh.worker")


class PkhWorker:
    def __init__(self, requests: PkhRequests, poll_seconds: float) -> None:
        self.requests, self.poll = requests, poll_seconds
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pkh-worker", daemon=True)
        requests.wake = self._wake.set

    def start(self) -> None:
        with session_scope(self.requests.engine) as session:
            freed = repository.clear_leases(session)
        if freed:
            log.info("PKH worker: %d request(s) held by a stopped process are free again", freed)
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop after the current hub call (bounded by the client's timeout)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.requests.run_due()
            except Exception:  # the worker must survive anything; the request stays PENDING
                log.exception("PKH worker: a round failed")
                busy = False
            if not busy:
                self._wake.wait(self.poll)
                self._wake.clear()
