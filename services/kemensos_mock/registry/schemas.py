"""Inbound models of the registry's admin edits (the read models are in ``shared.contracts.kemensos``)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from shared.contracts.common import Digits16, Strict


class KeluargaUpdate(Strict):
    """Admin edit of a family (drives the change feed in tests and scenarios). Fields left out stay."""

    no_kk: Digits16 | None = Field(None, description="New KK number; the old one is kept in `no_kk_lama`")
    kode_wilayah: str | None = Field(None, pattern=r"^\d{10}$")
    alamat: str | None = Field(None, max_length=200)
    desil: int | None = Field(None, ge=1, le=10, description="null clears the desil")
    dtsen_triwulan: str | None = Field(None, pattern=r"^\d{4}-Q[1-4]$")
    no_kks: str | None = Field(None, pattern=r"^\d{16}$", description="null clears the KKS number")

    @model_validator(mode="after")
    def _required_stay_set(self) -> KeluargaUpdate:
        for name in ("no_kk", "kode_wilayah", "alamat", "dtsen_triwulan"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise PydanticCustomError("not_nullable", "{field} cannot be cleared", {"field": name})
        return self
