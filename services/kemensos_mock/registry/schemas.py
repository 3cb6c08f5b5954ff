"""Inbound models of the registry's admin edits (the read models are in ``shared.contracts.kemensos``)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from shared.contracts.common import Digits16, Strict
from shared.contracts.kemensos import AlasanGantiKk


class KeluargaUpdate(Strict):
    """Admin edit of a family (drives the change feed in tests and scenarios). Fields left out stay."""

    no_kk: Digits16 | None = Field(None, description="New KK number; the old one is kept in `no_kk_lama`")
    kode_wilayah: str | None = Field(None, pattern=r"^\d{10}$")
    alamat: str | None = Field(None, max_length=200)
    desil: int | None = Field(None, ge=1, le=10, description="null clears the desil")
    dtsen_triwulan: str | None = Field(None, pattern=r"^\d{4}-Q[1-4]$")
    no_kks: str | None = Field(None, pattern=r"^\d{16}$", description="null clears the KKS number")
    alasan_ganti_kk: AlasanGantiKk | None = Field(None, description="Why `no_kk` changes (kept in the history)")

    @model_validator(mode="after")
    def _required_stay_set(self) -> KeluargaUpdate:
        for name in ("no_kk", "kode_wilayah", "alamat", "dtsen_triwulan"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise PydanticCustomError("not_nullable", "{field} cannot be cleared", {"field": name})
        if self.alasan_ganti_kk is not None and self.no_kk is None:
            raise PydanticCustomError("alasan_without_new_kk", "alasan_ganti_kk goes with a new no_kk")
        return self


class KeluargaEdit(Strict):
    """`PATCH /api/v1/admin/keluarga`: which family (its KK number in the body, never in a URL) and the edit."""

    no_kk: Digits16 = Field(..., description="The family's current KK number")
    change: KeluargaUpdate


class KeluargaRef(Strict):
    """One family by its current KK number, in the body (never in a URL)."""

    no_kk: Digits16 = Field(..., description="The family's current KK number")


class AnggotaRef(Strict):
    """One member by NIK, in the body (never in a URL)."""

    nik: Digits16 = Field(..., description="The member's NIK")


class PecahKk(Strict):
    """Admin: members split off into a family of their own (pecah KK). The family they leave keeps its
    number; the new one records it as `asal_no_kk`."""

    no_kk: Digits16 = Field(..., description="KK number of the family the members leave")
    no_kk_baru: Digits16 = Field(..., description="KK number of the new family (never held by any family)")
    anggota: list[Digits16] = Field(..., min_length=1, max_length=20, description="NIKs of the members who leave")
    kepala_keluarga: Digits16 = Field(..., description="Which of them heads the new family")
    kode_wilayah: str | None = Field(None, pattern=r"^\d{10}$", description="Default: the origin's")
    alamat: str | None = Field(None, max_length=200, description="Default: the origin's")
    desil: int | None = Field(None, ge=1, le=10, description="Default: the origin's")

    @model_validator(mode="after")
    def _head_among_members(self) -> PecahKk:
        if len(set(self.anggota)) != len(self.anggota):
            raise PydanticCustomError("duplicate", "a NIK is listed twice in anggota")
        if self.kepala_keluarga not in self.anggota:
            raise PydanticCustomError("kepala_not_in_anggota", "kepala_keluarga must be one of anggota")
        return self
