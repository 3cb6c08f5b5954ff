"""Reading a paged feed one thread ahead of the consumer: the next page is fetched (and the upstream builds it,
and the reader parses it) while the consumer stores the current one. The feeds' pages are read in order and
stored in order; only the reading overlaps the storing."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def read_ahead(pages: Iterator[T], prepare: Callable[[T], R], depth: int = 2) -> Iterator[tuple[T, R]]:
    """``(page, prepare(page))`` for the pages of ``pages`` in order, fetched and prepared by a worker thread up
    to ``depth`` pages ahead, so the next page travels (and the upstream builds it) while this one is stored. An
    error while fetching or preparing is raised here, after the pages before it; when the consumer stops
    early the worker stops at its next page."""
    out: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def fetch() -> None:
        try:
            for page in pages:
                while not stop.is_set():
                    try:
                        out.put(("page", (page, prepare(page))), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            out.put(("end", None))
        except BaseException as exc:  # handed to the consumer, raised there
            out.put(("error", exc))

    worker = threading.Thread(target=fetch, name="read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = out.get()
            if kind == "end":
                return
            if kind == "error":
                raise value  # type: ignore[misc]
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        worker.join(timeout=30)
