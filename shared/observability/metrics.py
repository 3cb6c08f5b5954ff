"""Prometheus metrics. Two kinds, both multi-process correct:

* **per-process counters and histograms** (requests per route template, the gateways' result batches and PKH
  requests): prometheus-client's objects below. A service served by several uvicorn worker processes runs them
  in *multiprocess mode* (``PROMETHEUS_MULTIPROC_DIR``: each process writes its samples to files there and a
  scrape of any process sums them); ``shared.settings.serve_app`` makes a fresh directory for them when
  ``workers > 1`` and none is set.
* **gauges computed from the database at scrape time** (the hub's runs, units, outcomes, outbox, dead letters,
  replica lag, queue depth): ``DbCollector`` subclasses. The hub's ``worker`` processes serve no HTTP; what
  they do is in the shared database, so any API process reports it. Results are kept ``ttl`` seconds so that
  several scrapers (or a scrape storm) cost one set of queries.

Labels never carry a raw path (ids would explode the series and a path must never carry personal data): the
route is the template (``/api/v1/sync-runs/{run_id}``), requests that match no route are ``unmatched``.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

log = logging.getLogger("jembatan.metrics")

disable_created_metrics()  # no *_created series: they double the series for nothing a dashboard uses

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# --- RED metrics of every service (labels: service, method, route template, status) -------------------------
HTTP_REQUESTS = Counter("jembatan_http_requests", "HTTP requests answered, by route template and status",
                        ["service", "method", "route", "status"])
HTTP_DURATION = Histogram("jembatan_http_request_duration_seconds", "Time to answer an HTTP request, by route "
                          "template", ["service", "method", "route"],
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))

# --- the gateways ----------------------------------------------------------------------------------------------
GATEWAY_RESULT_BATCHES = Counter("jembatan_gateway_result_batches", "Result batches from the hub this gateway "
                                 "answered 200 (a refused batch is a 4xx of its route in jembatan_http_requests)",
                                 ["service"])
GATEWAY_RESULT_ITEMS = Counter("jembatan_gateway_result_items", "Result items received from the hub, by the "
                               "gateway's answer (APPLIED, UNCHANGED, STALE, NOT_FOUND, REJECTED)",
                               ["service", "result"])
GATEWAY_PKH_REQUESTS = Counter("jembatan_gateway_pkh_requests", "\"Request Data PKH\" requests, by status when "
                               "answered (DONE; PENDING: queued, or the hub could not be reached yet; FAILED: the "
                               "hub could not decide or refused)", ["service", "status"])


def prepare_multiprocess(workers: int) -> None:
    """Before uvicorn starts ``workers`` processes: give them a fresh multiprocess directory unless one is set
    (an operator's directory must be emptied by the operator at start, as prometheus-client documents)."""
    if workers > 1 and not os.environ.get(MULTIPROC_ENV):
        directory = os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="jembatan-metrics-")
        # removed when the process that made it (uvicorn's supervisor) ends; its workers are spawned, not forked,
        # so they do not inherit this handler
        atexit.register(shutil.rmtree, directory, ignore_errors=True)


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def exposition(service_registry: CollectorRegistry | None) -> bytes:
    """The text a scrape gets: the process-level metrics (summed over the worker processes in multiprocess
    mode), then the service's own collectors."""
    if multiprocess():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        out = generate_latest(registry)
    else:
        out = generate_latest(REGISTRY)
    if service_registry is not None:
        out += generate_latest(service_registry)
    return out


class DbCollector(Collector):
    """Gauges read from the database at scrape time, kept ``ttl`` seconds. Subclasses implement ``read`` (the
    families); a failing read is logged and answered with ``jembatan_metrics_collect_errors`` instead of
    failing the whole scrape."""

    def __init__(self, service: str, ttl: float = 5.0) -> None:
        self.service, self.ttl = service, ttl
        self._lock = threading.Lock()
        self._cached: list[Metric] = []
        self._at = float("-inf")
        self._errors = 0

    def read(self) -> Iterable[Metric]:
        raise NotImplementedError

    def describe(self) -> Iterable[Metric]:
        return []  # families are dynamic: the registry must not call collect() at registration

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if time.monotonic() - self._at >= self.ttl:
                try:
                    self._cached = list(self.read())
                except Exception as exc:  # a scrape must still answer (the database may be down: /ready says so)
                    self._errors += 1
                    log.warning("metrics from the database failed: %s", type(exc).__name__)
                    self._cached = []
                self._at = time.monotonic()
            families = list(self._cached)
        errors = GaugeMetricFamily("jembatan_metrics_collect_errors", "Scrapes whose database read failed "
                                   "(since the process started)", labels=["service"])
        errors.add_metric([self.service], self._errors)
        yield from families
        yield errors


def gauge(name: str, doc: str, labels: list[str], samples: Iterable[tuple[list[str], float]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for values, value in samples:
        family.add_metric(values, value)
    return family


# The labelled children of the two RED metrics, kept per label set: ``labels()`` validates and joins the values
# and takes the metric's lock on every call (~3 us each, two per request; a dict lookup instead). Bounded like the
# series themselves: services, templates, methods and statuses, never a raw path.
_RED_CHILDREN: dict[tuple[str, str, str, int], tuple[Any, Any]] = {}


def observe_request(service: str, method: str, route: str, status: int, seconds: float) -> None:
    key = (service, method, route, status)
    children = _RED_CHILDREN.get(key)
    if children is None:
        children = _RED_CHILDREN[key] = (HTTP_REQUESTS.labels(service, method, route, str(status)),
                                         HTTP_DURATION.labels(service, method, route))
    children[0].inc()
    children[1].observe(seconds)


def result_batch(service: str, answer: Any) -> None:
    """A gateway answered the hub's result batch (``HubResultBatchResponse``): the batch and its items."""
    GATEWAY_RESULT_BATCHES.labels(service).inc()
    by: dict[str, int] = {}
    for item in answer.results:
        by[str(item.status.value)] = by.get(str(item.status.value), 0) + 1
    for result, n in by.items():
        GATEWAY_RESULT_ITEMS.labels(service, result).inc(n)


def pkh_request(service: str, status: str) -> None:
    GATEWAY_PKH_REQUESTS.labels(service, status).inc()
