from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from pydantic import BaseModel

from shared.contracts.common import Health, HubResultBatch, HubResultBatchResponse, Page
from shared.http import BaseClient, segment

S = TypeVar("S", bound=BaseModel)


class GatewayClient(BaseClient, Generic[S]):
    """What the EMIS and Dapodik gateway clients share: paged students and the inbound result batch."""

    students_path: str
    student_model: type[S]

    def health(self) -> Health:
        return self.request("GET", "/health", Health, idempotent=True)

    def list_students(self, cursor: str | None = None, limit: int = 500) -> Page[S]:
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return self.request("GET", self.students_path, Page[self.student_model],  # type: ignore[name-defined]
                            idempotent=True, params=params)

    def iter_students(self, limit: int = 500) -> Iterator[S]:
        cursor: str | None = None
        while True:
            page = self.list_students(cursor, limit)
            yield from page.items
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def get_student(self, student_id: str) -> S:
        return self.request("GET", f"{self.students_path}/{segment(student_id)}", self.student_model, idempotent=True)

    def post_results(self, batch: HubResultBatch) -> HubResultBatchResponse:
        """Idempotent by contract (a repeated batch changes nothing), so it is safe to retry."""
        return self.post_results_json(batch.model_dump_json().encode("utf-8"))

    def post_results_json(self, body: bytes) -> HubResultBatchResponse:
        """``post_results`` of a batch already serialised (a ``HubResultBatch`` as JSON: the hub makes it of the
        items' JSON its outbox keeps, rather than serialising them again)."""
        return self.request("POST", "/api/v1/hub/results", HubResultBatchResponse, idempotent=True, content=body)
