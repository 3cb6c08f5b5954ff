"""Object-level access: who may see and change which institution's data.

Every credential (``EMIS_API_TOKENS``) belongs to a client. A client listed in ``EMIS_API_SCOPES`` is an
operator of those institutions only (NSM, or NSPP for a pesantren): it reads and changes their students
and nothing else. Other clients (the sync hub, an all-institutions operator) see everything. Only the
clients in ``EMIS_RESULTS_CLIENTS`` (the hub) may write results.

Outside its scope a client gets 403 on an institution's own path (``/madrasah/{nsm}/...``: the NSM is
public) and 404 on a student or a request (whether it exists elsewhere is not its business); nothing
changes either way.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import Forbidden, NotFound


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    scope: frozenset[str] | None = None  # institutions (NSM / NSPP) it may see; None: every one
    writes_results: bool = False

    def sees(self, institution: str | None) -> bool:
        return self.scope is None or (institution is not None and institution in self.scope)

    def ensure_institution(self, institution: str, field: str = "nsm") -> None:
        if not self.sees(institution):
            raise Forbidden.field(field, "scope", f"this credential may not read or change this {field}")

    def ensure_student(self, institution: str | None, field: str = "siswa_id") -> None:
        """A student outside the scope is answered as if it did not exist."""
        if not self.sees(institution):
            raise NotFound.field(field, "not_found", f"no student with this {field}")

    def ensure_writes_results(self) -> None:
        if not self.writes_results:
            raise Forbidden.field("authorization", "results_writer", "only the sync hub's credential may write "
                                  "results")

    def ensure_operator(self) -> None:
        """Manual data is operator input: the hub's credential writes results, never manual data."""
        if self.writes_results:
            raise Forbidden.field("authorization", "operator_only", "manual data is entered by operators; the "
                                  "sync hub writes server data through /api/v1/hub/results")


# What code that runs on its own (the worker, the loader, benchmarks) acts as.
SYSTEM = Principal("system", None, True)
